#!/usr/bin/env bash
# OGC API - Features items pages: imgis answering from its in-memory index over
# HTTP, beside PostGIS building the same GeoJSON pages with ST_AsGeoJSON, on
# the same data (the demo city, PARCELS parcels, default 300 000, in one
# PostGIS database).
#
# - imgis: `wrk` with 16 connections for SECONDS_EACH s over PAGES seeded
#   random pages of LIMIT (default 1 000) parcels:
#   `GET /collections/parcels/items?limit=LIMIT&offset=K`, then the same pages
#   gzipped (what GDAL and QGIS ask for).
# - PostGIS: `pgbench` running, for the same offsets, a query that returns the
#   page as one GeoJSON FeatureCollection (ST_AsGeoJSON of id, geometry and
#   properties, ordered by id), with no HTTP in between; 16 clients, then 1.
# Load generator and server share the machine's two cores in both cases.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. benches/lib.sh

PARCELS=${PARCELS:-300000}
SECONDS_EACH=${SECONDS_EACH:-20}
PAGES=${PAGES:-200}
LIMIT=${LIMIT:-1000}
CONNECTIONS=16
bench_setup
# The server derives the utility protection zones into the store as it starts,
# so PostGIS is measured after it, on the same zones.
start_server
psql -q "$BENCH_URL" -c "VACUUM ANALYZE features"

# The pages: PAGES offsets, seeded, each a whole page inside the layer.
python3 - "$PARCELS" "$LIMIT" "$PAGES" > "$PG_WORK/offsets" <<'PY'
import random, sys
parcels, limit, pages = (int(a) for a in sys.argv[1:])
rng = random.Random(42)
for _ in range(pages):
    print(rng.randrange(0, max(1, parcels - limit)))
PY
sed "s|^|/collections/parcels/items?limit=$LIMIT\&offset=|" "$PG_WORK/offsets" > "$PG_WORK/pages.paths"
bytes=$(curl -sf "http://127.0.0.1:$port$(head -n 1 "$PG_WORK/pages.paths")" | wc -c)

cat > "$PG_WORK/pages.lua" <<'LUA'
-- Each thread walks the fixed list from its own starting point; with a
-- second argument "gzip", it asks for gzip as GDAL does.
local lines = {}
local headers = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  if args[2] == "gzip" then headers["Accept-Encoding"] = "gzip" end
  i = math.random(#lines)
end
function request()
  i = i % #lines + 1
  return wrk.format("GET", lines[i], headers)
end
LUA
run_wrk() {
  local label=$1
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$PG_WORK/pages.lua" \
    "http://127.0.0.1:$port" -- "$PG_WORK/pages.paths" ${2:+"$2"} > "$PG_WORK/wrk.txt"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$PG_WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$PG_WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$PG_WORK/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$PG_WORK/wrk.txt")
  echo "imgis/$label ($PARCELS parcels, pages of $LIMIT, $((bytes / 1024)) KiB each, $CONNECTIONS connections): $(python3 -c "print(round($rps, 1))") pages/s = $(python3 -c "print(round($rps * $LIMIT))") features/s, p50 $p50, p99 $p99, RSS $(rss_mb) MB${errors:+ ERRORS: $errors}"
}
run_wrk "GET /collections/parcels/items"
run_wrk "GET /collections/parcels/items, gzip" gzip
stop_server

# PostGIS: the same pages as GeoJSON FeatureCollections.
layer_id=$(psql -At "$BENCH_URL" -c "SELECT id FROM layers WHERE code = 'parcels'")
offsets=$(paste -sd, "$PG_WORK/offsets")
cat > "$PG_WORK/page.sql" <<SQL
\set k random(1, $PAGES)
SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(ST_AsGeoJSON(t.*, 'geom', 15)::json))
FROM (SELECT f.id, f.geom, f.cadastral, f.properties FROM features f
      WHERE f.layer_id = $layer_id ORDER BY f.id
      LIMIT $LIMIT OFFSET (ARRAY[$offsets])[:k]) t;
SQL
pgbench=/usr/lib/postgresql/15/bin/pgbench
for clients in "$CONNECTIONS" 1; do
  "$pgbench" -n -M prepared -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -T "$SECONDS_EACH" \
    -f "$PG_WORK/page.sql" "$BENCH_URL" > "$PG_WORK/pgbench.txt" 2>&1
  tps=$(awk '/^tps/ {print $3; exit}' "$PG_WORK/pgbench.txt")
  lat=$(awk '/latency average/ {print $4 " " $5}' "$PG_WORK/pgbench.txt")
  echo "postgis/ST_AsGeoJSON page ($PARCELS parcels, the same $PAGES pages of $LIMIT, $clients clients, no HTTP): $(python3 -c "print(round($tps, 1))") pages/s = $(python3 -c "print(round($tps * $LIMIT))") features/s, mean latency $lat"
done
