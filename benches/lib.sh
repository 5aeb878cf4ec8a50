# What the benches/compare_postgis_*.sh scripts share; sourced after
# scripts/lib.sh. Each compares imgis over HTTP with PostGIS on the same data:
# the demo city of PARCELS parcels in one throwaway PostGIS database.

# bench_setup: build prerequisites and wrk, a throwaway PostGIS cluster, a
# release build, the demo city in a fresh database (BENCH_URL), a free port
# for the server (port), and clean-up of server and cluster on exit.
bench_setup() {
  ensure_build_deps
  ensure_packages wrk
  start_throwaway_postgis
  cargo build --release --quiet
  psql -q "$DATABASE_URL" -c "CREATE DATABASE bench TEMPLATE imgis_template"
  BENCH_URL="${DATABASE_URL%/*}/bench"
  target/release/imgis demo --database "$BENCH_URL" --parcels "$PARCELS" >&2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  SERVER_PID=
  trap 'stop_server; stop_throwaway_postgis' EXIT INT TERM
}

# start_server [serve flags…]: serves the bench database on the port and
# waits until it answers (at start the server builds its index and derives
# the protection zones into the store: a minute at 300 000 parcels).
start_server() {
  IMGIS_LOG=warn target/release/imgis serve --database "$BENCH_URL" \
    --listen "127.0.0.1:$port" --tiles-dir "$PG_WORK/no-archives" "$@" &
  SERVER_PID=$!
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "imgis did not start" >&2
  exit 1
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

# rss_mb: the server's resident memory, MB.
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
