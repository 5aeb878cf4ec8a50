#!/usr/bin/env bash
# Load test: a mixed read load on a running imgis for DURATION seconds, with
# zero errors expected and the server's memory reported before and after.
#
# The server serves the demo city (PARCELS parcels) from a fresh GeoPackage in
# a temp dir; the load is one seeded list of requests, replayed round-robin by
# wrk (THREADS threads, CONNECTIONS connections):
# - tiles: the parcels layer at z14–z16 and the whole map (every public layer
#   in one composite tile) at z12–z16, at random spots of the city;
# - constraints: `GET /parcels/{cadastral}/constraints` of random parcels;
# - features: `GET /collections/parcels/items?bbox=…&limit=100`, 250 m windows.
# Prints one summary line `load: … requests, … errors, rss before … MB, after
# … MB, peak … MB` and exits non-zero when any request failed (transport error,
# timeout, or a status of 400 and above), so tests/load.rs can run it.
#
# Environment: IMGIS_BIN (default: a release build, made when missing),
# DURATION (60), PARCELS (5000), CONNECTIONS (16), THREADS (2),
# TILE_CACHE_MB (256; 0 renders every tile).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DURATION=${DURATION:-60}
PARCELS=${PARCELS:-5000}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
TILE_CACHE_MB=${TILE_CACHE_MB:-256}
ensure_packages wrk curl
if [ -z "${IMGIS_BIN:-}" ]; then
  ensure_build_deps
  cargo build --release --quiet
  IMGIS_BIN=target/release/imgis
fi

WORK=$(mktemp -d /tmp/imgis-load.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

IMGIS_LOG=warn "$IMGIS_BIN" serve --gpkg "$WORK/city.gpkg" --demo-parcels "$PARCELS" \
  --listen "127.0.0.1:$port" --tiles-dir "$WORK/no-archives" --tile-cache-mb "$TILE_CACHE_MB" \
  2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 3000); do
  curl -sf "$base/health" >/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$base/health" >/dev/null || { echo "load: imgis did not start" >&2; exit 1; }

# The request list, from what the server itself says it holds.
curl -sf "$base/layers" > "$WORK/layers.json"
curl -sf "$base/collections/parcels/items?limit=2000" > "$WORK/parcels.json"
python3 - "$WORK" <<'PY'
import json, random, sys
sys.path.insert(0, "benches")
from tile_lists import tile
work = sys.argv[1]
layers = json.load(open(f"{work}/layers.json"))["layers"]
parcels = json.load(open(f"{work}/parcels.json"))["features"]
cadastrals = [p["properties"]["cadastral"] for p in parcels if p["properties"].get("cadastral")]
w, s, e, n = next(l["bbox"] for l in layers if l["code"] == "parcels")
rng = random.Random(7)
composite = ",".join(l["code"] for l in layers)
paths = []
for i in range(3000):
    lon, lat = rng.uniform(w, e), rng.uniform(s, n)
    kind = i % 4
    if kind == 0:
        z = rng.choice([14, 15, 16]); x, y = tile(lon, lat, z)
        paths.append(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    elif kind == 1:
        z = rng.choice([12, 13, 14, 15, 16]); x, y = tile(lon, lat, z)
        paths.append(f"/tiles/{composite}/{z}/{x}/{y}.mvt")
    elif kind == 2:
        paths.append(f"/parcels/{rng.choice(cadastrals)}/constraints")
    else:
        # About 250 m × 250 m at Kazan's latitude.
        dx, dy = 0.0040, 0.00225
        paths.append(f"/collections/parcels/items?bbox={lon:.6f},{lat:.6f},{lon+dx:.6f},{lat+dy:.6f}&limit=100")
rng.shuffle(paths)
open(f"{work}/paths.txt", "w").write("\n".join(paths) + "\n")
PY
cat > "$WORK/load.lua" <<'LUA'
-- Replays the request list round-robin, each thread from its own offset.
local paths = {}
for line in io.lines(os.getenv("LOAD_PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip" })
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "LOAD requests=%d connect=%d read=%d write=%d status=%d timeout=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }
hwm_mb() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }
before=$(rss_mb)
LOAD_PATHS="$WORK/paths.txt" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s \
  -s "$WORK/load.lua" "$base" | tee "$WORK/wrk.txt" >&2
after=$(rss_mb)
peak=$(hwm_mb)
line=$(grep '^LOAD ' "$WORK/wrk.txt")
val() { echo "$line" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
errors=$(( $(val connect) + $(val read) + $(val write) + $(val status) + $(val timeout) ))
rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.txt")
echo "load: ${DURATION} s, $(val requests) requests ($rps/s, p50 $(val p50_ms) ms, p99 $(val p99_ms) ms), $errors errors; server rss before ${before} MB, after ${after} MB, peak ${peak} MB"
kill -0 "$SERVER_PID" 2>/dev/null || { echo "load: the server died" >&2; exit 1; }
[ "$errors" -eq 0 ]
