#!/usr/bin/env bash
# Scale-out figures: what one core of imgis serves, and what a feature costs
# in memory. The server runs pinned to core 0 (`taskset -c 0`) on the demo
# city of PARCELS parcels (default 300 000) in a fresh GeoPackage; wrk runs
# pinned to the other core, so the figures are per core of the server.
# - tiles/s per core, cold (`--tile-cache-mb 0`: every tile rendered) and warm
#   (from the cache, gzipped as browsers ask): the parcels layer at z14–z16,
#   and the whole map (every layer in one composite tile) at z12–z16, on fixed
#   seeded tile lists at random spots of the city;
# - memory: the server's resident set and the index's own estimate, per feature.
# Needs two cores; prints one line per figure. IMGIS_BIN: a release build
# (default: built here).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

PARCELS=${PARCELS:-300000}
SECONDS_EACH=${SECONDS_EACH:-20}
TILES_PER_ZOOM=${TILES_PER_ZOOM:-200}
ensure_packages wrk curl
if [ -z "${IMGIS_BIN:-}" ]; then
  ensure_build_deps
  cargo build --release --quiet --bin imgis
  IMGIS_BIN=target/release/imgis
fi
WORK=$(mktemp -d /tmp/imgis-percore.XXXXXX)
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
start_server() {
  IMGIS_LOG=warn taskset -c 0 "$IMGIS_BIN" serve --gpkg "$WORK/city.gpkg" \
    --demo-parcels "$PARCELS" --listen "127.0.0.1:$port" --tiles-dir "$WORK/none" "$@" &
  SERVER_PID=$!
  for _ in $(seq 1 6000); do
    curl -sf "$base/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "imgis did not start" >&2
  exit 1
}
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }

start_server --tile-cache-mb 0
curl -sf "$base/layers" > "$WORK/layers.json"
curl -sf "$base/health" > "$WORK/health.json"
python3 - "$WORK" "$TILES_PER_ZOOM" "$(rss_mb)" <<'PY'
import json, sys
work, per_zoom, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
layers = json.load(open(f"{work}/layers.json"))["layers"]
health = json.load(open(f"{work}/health.json"))
features = health["index"]["features"]
print(f"memory: {features} features; index estimate {health['index']['memory_bytes'] / 2**20:.0f} MB "
      f"({health['index']['memory_bytes'] / features:.0f} bytes/feature); server RSS at start {rss} MB "
      f"({rss * 2**20 / features:.0f} bytes/feature, everything included)")
PY
python3 benches/tile_lists.py "$WORK" "$TILES_PER_ZOOM"
run_wrk() {
  local list=$1 label=$2
  taskset -c 1 wrk -t1 -c16 -d"${SECONDS_EACH}s" --latency -s benches/tiles.lua "$base" \
    -- "$WORK/$list.paths" ${3:+"$3"} > "$WORK/wrk.txt"
  echo "tiles/$list/$label, server on 1 core: $(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk.txt") tiles/s," \
    "p50 $(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt"), p99 $(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")," \
    "RSS $(rss_mb) MB $(awk '/Non-2xx|Socket errors/ {printf "ERRORS: %s ", $0}' "$WORK/wrk.txt")"
}
run_wrk parcels cold
run_wrk map cold
stop_server
start_server --tile-cache-mb 512
for list in parcels map; do
  while read -r path; do
    curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "$base$path" || true
  done < "$WORK/$list.paths"
  run_wrk "$list" warm-gzip gzip
done
