#!/usr/bin/env bash
# Constraints of a plot: imgis answering from its in-memory index over HTTP,
# beside PostGIS answering the same question on the same data (the demo city,
# PARCELS parcels, default 300 000, in one PostGIS database).
#
# The question, for one plot: every zone (every layer of kind zones, including
# the utility protection zones the server derives at start) that intersects it,
# with the overlap area in EPSG:32639 m².
# - imgis: `wrk` with 16 connections for SECONDS_EACH s over a fixed (seeded)
#   list of PLOTS random plots: `GET /parcels/{cadastral}/constraints`, then
#   `POST /constraints` with the same plots' polygons as GeoJSON (an
#   applicant-drawn area: JSON parsing and validity checks included), then
#   `POST /route` for a building permit at the same plots (constraints plus
#   the catalog's rules, the working-day calendar and the schedule).
# - PostGIS: `pgbench` running `ST_Intersects` + `ST_Area(ST_Transform(
#   ST_Intersection(plot, zone), 32639))` for the same plots, with no HTTP in
#   between; 16 clients, then 1 client.
# Load generator and server share the machine's two cores in both cases.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. benches/lib.sh

PARCELS=${PARCELS:-300000}
SECONDS_EACH=${SECONDS_EACH:-20}
PLOTS=${PLOTS:-2000}
CONNECTIONS=16
bench_setup
# The server derives the utility protection zones into the store as it starts,
# so PostGIS is measured after it, on the same zones.
start_server
psql -q "$BENCH_URL" -c "VACUUM ANALYZE features"
zones=$(psql -At "$BENCH_URL" -c "SELECT count(*) FROM features f JOIN layers l ON l.id = f.layer_id WHERE l.kind = 'zones'")

# The plots: PLOTS parcels in a fixed pseudo-random order (by the hash of the
# number), as paths and as POST bodies (the stored polygon, all 15 digits).
psql -q -v ON_ERROR_STOP=1 "$BENCH_URL" <<SQL
CREATE TABLE bench_plots AS
  SELECT row_number() OVER (ORDER BY md5(f.cadastral)) AS i, f.cadastral, f.geom
  FROM features f JOIN layers l ON l.id = f.layer_id
  WHERE l.code = 'parcels' ORDER BY md5(f.cadastral) LIMIT $PLOTS;
CREATE UNIQUE INDEX ON bench_plots (i);
ANALYZE bench_plots;
SQL
psql -At "$BENCH_URL" -c "SELECT '/parcels/' || cadastral || '/constraints' FROM bench_plots ORDER BY i" \
  > "$PG_WORK/plots.paths"
psql -At "$BENCH_URL" -c "SELECT json_build_object('geometry', ST_AsGeoJSON(geom, 15)::json) FROM bench_plots ORDER BY i" \
  > "$PG_WORK/plots.bodies"
psql -At "$BENCH_URL" -c "SELECT json_build_object('service', 'building_permit', 'cadastral', cadastral, 'submitted', '2027-03-01') FROM bench_plots ORDER BY i" \
  > "$PG_WORK/plots.routes"
# Warm up: the first question prepares the zone layers (cut into pieces).
head -n 1 "$PG_WORK/plots.paths" | while read -r path; do curl -sf -o /dev/null "http://127.0.0.1:$port$path"; done

cat > "$PG_WORK/plots.lua" <<'LUA'
-- Each thread walks the fixed list from its own starting point. With a second
-- argument "post", each line is a JSON body POSTed to the third argument.
local lines = {}
local post = false
local target = "/constraints"
local i = 0
local headers = { ["Content-Type"] = "application/json" }
function init(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  post = args[2] == "post"
  target = args[3] or target
  i = math.random(#lines)
end
function request()
  i = i % #lines + 1
  if post then
    return wrk.format("POST", target, headers, lines[i])
  end
  return wrk.format("GET", lines[i])
end
LUA
# run_wrk LIST LABEL [post PATH]
run_wrk() {
  local list=$1 label=$2
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$PG_WORK/plots.lua" \
    "http://127.0.0.1:$port" -- "$PG_WORK/$list" ${3:+"$3"} ${4:+"$4"} > "$PG_WORK/wrk.txt"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$PG_WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$PG_WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$PG_WORK/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$PG_WORK/wrk.txt")
  echo "imgis/$label ($PARCELS parcels, $zones zones, $PLOTS plots, $CONNECTIONS connections): $rps plots/s, p50 $p50, p99 $p99, RSS $(rss_mb) MB${errors:+ ERRORS: $errors}"
}
run_wrk plots.paths "GET /parcels/{c}/constraints"
run_wrk plots.bodies "POST /constraints" post /constraints
run_wrk plots.routes "POST /route (building_permit)" post /route
stop_server

# PostGIS: the same plots, the same zones, the same measure.
cat > "$PG_WORK/constraints.sql" <<SQL
\set i random(1, $PLOTS)
SELECT z.layer_id, z.id, ST_Area(ST_Transform(ST_Intersection(p.geom, z.geom), 32639))
FROM bench_plots p JOIN features z ON ST_Intersects(p.geom, z.geom)
WHERE p.i = :i AND z.layer_id IN (SELECT id FROM layers WHERE kind = 'zones');
SQL
pgbench=/usr/lib/postgresql/15/bin/pgbench
for clients in "$CONNECTIONS" 1; do
  "$pgbench" -n -M prepared -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -T "$SECONDS_EACH" \
    -f "$PG_WORK/constraints.sql" "$BENCH_URL" > "$PG_WORK/pgbench.txt" 2>&1
  tps=$(awk '/^tps/ {printf "%.0f", $3; exit}' "$PG_WORK/pgbench.txt")
  lat=$(awk '/latency average/ {print $4 " " $5}' "$PG_WORK/pgbench.txt")
  echo "postgis/ST_Intersects+ST_Area(ST_Intersection) ($PARCELS parcels, the same $PLOTS plots, $clients clients, no HTTP): $tps plots/s, mean latency $lat"
done
