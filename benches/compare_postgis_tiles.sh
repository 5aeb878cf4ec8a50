#!/usr/bin/env bash
# Vector tiles: imgis (from its in-memory index, over HTTP) beside PostGIS
# building the same tiles with ST_AsMVT(ST_AsMVTGeom(…)), the engine inside
# Martin and pg_tileserv, on the same data: the demo city with PARCELS parcels
# (default 300 000) in one PostGIS database.
#
# The tiles: a fixed list (seeded) of TILES_PER_ZOOM tiles at each zoom 12–16,
# at random spots of the parcels' extent. Each request is the composite of all
# 17 layers, `/tiles/districts,…,sanitary_zones/{z}/{x}/{y}.mvt`, in which each
# layer is drawn only within its zoom range (parcels from z14, networks from
# z12, …); the PostGIS function draws the same layers at the same zooms, one
# ST_AsMVT per layer, concatenated (as Martin does for a composite source).
#
# imgis: `wrk` with 16 connections for SECONDS_EACH s, cold (`--tile-cache-mb 0`:
# every tile rendered) and warm (default cache, after one pass over the list).
# PostGIS: `pgbench` with 16 clients running the tile function for the same
# list, without HTTP in between. Load generator and server share the machine's
# cores in both cases.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_packages wrk
start_throwaway_postgis

PARCELS=${PARCELS:-300000}
SECONDS_EACH=${SECONDS_EACH:-20}
TILES_PER_ZOOM=${TILES_PER_ZOOM:-200}
CONNECTIONS=16
cargo build --release --quiet
psql -q "$DATABASE_URL" -c "CREATE DATABASE bench TEMPLATE imgis_template"
BENCH_URL="${DATABASE_URL%/*}/bench"
target/release/imgis demo --database "$BENCH_URL" --parcels "$PARCELS" >&2
psql -q "$BENCH_URL" -c "VACUUM ANALYZE features"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap 'stop_server; stop_throwaway_postgis' EXIT INT TERM
# start_server CACHE_MB: serves the bench database and waits until it answers.
start_server() {
  IMGIS_LOG=warn target/release/imgis serve --database "$BENCH_URL" \
    --listen "127.0.0.1:$port" --tile-cache-mb "$1" --tiles-dir "$PG_WORK/no-archives" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "imgis did not start" >&2
  exit 1
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }

# The layers in drawing order with their zoom ranges, as the server has them.
start_server 0
curl -sf "http://127.0.0.1:$port/layers" > "$PG_WORK/layers.json"
python3 - "$PG_WORK" "$TILES_PER_ZOOM" <<'PY'
import json, math, random, sys
work, per_zoom = sys.argv[1], int(sys.argv[2])
layers = json.load(open(f"{work}/layers.json"))["layers"]
codes = [l["code"] for l in layers]
with open(f"{work}/layers.tsv", "w") as f:
    for i, l in enumerate(layers):
        f.write(f"{i}\t{l['code']}\t{l['minzoom']}\t{l['maxzoom']}\n")
w, s, e, n = next(l["bbox"] for l in layers if l["code"] == "parcels")
rng = random.Random(2026)
def tile(lon, lat, z):
    k = 2 ** z
    phi = math.radians(lat)
    return (int((lon + 180) / 360 * k),
            int((1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * k))
tiles = []
for z in range(12, 17):
    for _ in range(per_zoom):
        x, y = tile(rng.uniform(w, e), rng.uniform(s, n), z)
        tiles.append((z, x, y))
rng.shuffle(tiles)
composite = ",".join(codes)
with open(f"{work}/paths.txt", "w") as f:
    for z, x, y in tiles:
        f.write(f"/tiles/{composite}/{z}/{x}/{y}.mvt\n")
with open(f"{work}/tiles.tsv", "w") as f:
    for i, (z, x, y) in enumerate(tiles, 1):
        f.write(f"{i}\t{z}\t{x}\t{y}\n")
PY
ntiles=$(wc -l < "$PG_WORK/tiles.tsv")

cat > "$PG_WORK/tiles.lua" <<'LUA'
-- Each thread walks the fixed list from its own starting point.
local paths = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
run_wrk() {
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$PG_WORK/tiles.lua" \
    "http://127.0.0.1:$port" -- "$PG_WORK/paths.txt" > "$PG_WORK/wrk.txt"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$PG_WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$PG_WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$PG_WORK/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$PG_WORK/wrk.txt")
  echo "imgis/$1 ($PARCELS parcels, $ntiles tiles z12-z16, $CONNECTIONS connections): $rps tiles/s, p50 $p50, p99 $p99, RSS $(rss_mb) MB ${errors:+ERRORS: $errors}"
}

# Cold: no cache, every tile rendered.
run_wrk cold
stop_server
# Warm: the default cache, filled by one pass over the list.
start_server 256
while read -r path; do curl -sf -o /dev/null "http://127.0.0.1:$port$path"; done < "$PG_WORK/paths.txt"
run_wrk warm
stop_server

# PostGIS: the same composite tiles from ST_AsMVT, one layer after another.
psql -q -v ON_ERROR_STOP=1 "$BENCH_URL" <<SQL
CREATE TABLE bench_layers (ord int, code text, minzoom int, maxzoom int, layer_id bigint);
\copy bench_layers (ord, code, minzoom, maxzoom) FROM '$PG_WORK/layers.tsv'
UPDATE bench_layers b SET layer_id = l.id FROM layers l WHERE l.code = b.code;
CREATE TABLE bench_tiles (i int PRIMARY KEY, z int, x int, y int);
\copy bench_tiles FROM '$PG_WORK/tiles.tsv'
CREATE FUNCTION bench_tile(z int, x int, y int) RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE AS \$\$
DECLARE
  env geometry := ST_TileEnvelope(z, x, y);
  -- The tile plus its 64-pixel buffer, in the storage CRS, for the GiST index.
  q geometry := ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326);
  l record;
  part bytea;
  tile bytea := '';
BEGIN
  FOR l IN SELECT * FROM bench_layers WHERE z BETWEEN minzoom AND maxzoom ORDER BY ord LOOP
    SELECT ST_AsMVT(t, l.code, 4096, 'geom', 'id') INTO part FROM (
      SELECT f.id, f.cadastral, f.properties,
             ST_AsMVTGeom(ST_Transform(f.geom, 3857), env, 4096, 64, true) AS geom
      FROM features f WHERE f.layer_id = l.layer_id AND f.geom && q
    ) t WHERE t.geom IS NOT NULL;
    tile := tile || coalesce(part, '');
  END LOOP;
  RETURN tile;
END
\$\$;
SQL
cat > "$PG_WORK/tile.sql" <<SQL
\set i random(1, $ntiles)
SELECT length(bench_tile(z, x, y)) FROM bench_tiles WHERE i = :i;
SQL
pgbench=/usr/lib/postgresql/15/bin/pgbench
"$pgbench" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_EACH" -f "$PG_WORK/tile.sql" "$BENCH_URL" \
  > "$PG_WORK/pgbench.txt" 2>&1
tps=$(awk '/^tps/ {printf "%.0f", $3; exit}' "$PG_WORK/pgbench.txt")
lat=$(awk '/latency average/ {print $4 " " $5}' "$PG_WORK/pgbench.txt")
echo "postgis/ST_AsMVT ($PARCELS parcels, the same $ntiles tiles, $CONNECTIONS clients, no HTTP): $tps tiles/s, mean latency $lat"
