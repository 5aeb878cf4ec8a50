#!/usr/bin/env bash
# Vector tiles: imgis (from its in-memory index, over HTTP) beside PostGIS
# building the same tiles with ST_AsMVT(ST_AsMVTGeom(…)), the engine inside
# Martin and pg_tileserv, on the same data: the demo city with PARCELS parcels
# (default 300 000) in one PostGIS database.
#
# Two fixed (seeded) lists of tiles at random spots of the parcels' extent:
# - map: TILES_PER_ZOOM tiles at each zoom 12–16, each the composite of all 17
#   layers (`/tiles/districts,…,gas_stations/{z}/{x}/{y}.mvt`), every layer drawn
#   within its zoom range (parcels from z14, networks from z12, …);
# - parcels: TILES_PER_ZOOM tiles at each zoom 14–16 of the parcels layer alone.
# The PostGIS function draws the same layers at the same zooms, one ST_AsMVT
# per layer, concatenated (as Martin does for a composite source).
#
# imgis: `wrk` with 16 connections for SECONDS_EACH s, cold (`--tile-cache-mb 0`:
# every tile rendered; no gzip, as PostGIS gives none) and warm (default cache,
# after one pass over the list; plain, and gzipped as browsers ask).
# PostGIS: `pgbench` with 16 clients running the tile function over the same
# list, without HTTP in between. Load generator and server share the machine's
# two cores in both cases.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. benches/lib.sh

PARCELS=${PARCELS:-300000}
SECONDS_EACH=${SECONDS_EACH:-20}
TILES_PER_ZOOM=${TILES_PER_ZOOM:-200}
CONNECTIONS=16
bench_setup
psql -q "$BENCH_URL" -c "VACUUM ANALYZE features"

# The layers in drawing order with their zoom ranges, as the server has them.
start_server --tile-cache-mb 0
curl -sf "http://127.0.0.1:$port/layers" > "$PG_WORK/layers.json"
python3 benches/tile_lists.py "$PG_WORK" "$TILES_PER_ZOOM"
# run_wrk LIST LABEL [ENCODING]
run_wrk() {
  local list=$1 label=$2 n
  n=$(wc -l < "$PG_WORK/$list.paths")
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s benches/tiles.lua \
    "http://127.0.0.1:$port" -- "$PG_WORK/$list.paths" ${3:+"$3"} > "$PG_WORK/wrk.txt"
  local rps p50 p99 mbs errors
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$PG_WORK/wrk.txt")
  mbs=$(awk '/Transfer\/sec/ {print $2}' "$PG_WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$PG_WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$PG_WORK/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$PG_WORK/wrk.txt")
  echo "imgis/$list/$label ($PARCELS parcels, $n tiles, $CONNECTIONS connections): $rps tiles/s ($mbs/s), p50 $p50, p99 $p99, RSS $(rss_mb) MB${errors:+ ERRORS: $errors}"
}

# Cold: no cache, every tile rendered.
run_wrk map cold
run_wrk parcels cold
stop_server
# Warm: the default cache, filled by one pass over each list.
start_server --tile-cache-mb 256
for list in map parcels; do
  while read -r path; do
    curl -sf -o /dev/null "http://127.0.0.1:$port$path"
    curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port$path"
  done < "$PG_WORK/$list.paths"
  run_wrk "$list" warm
  run_wrk "$list" warm-gzip gzip
done
stop_server

# PostGIS: the same composite tiles from ST_AsMVT, one layer after another.
psql -q -v ON_ERROR_STOP=1 "$BENCH_URL" <<SQL
CREATE TABLE bench_layers (ord int, code text, minzoom int, maxzoom int, layer_id bigint);
\copy bench_layers (ord, code, minzoom, maxzoom) FROM '$PG_WORK/layers.tsv'
UPDATE bench_layers b SET layer_id = l.id FROM layers l WHERE l.code = b.code;
CREATE TABLE bench_map (i int PRIMARY KEY, z int, x int, y int, codes text);
\copy bench_map FROM '$PG_WORK/map.tsv'
CREATE TABLE bench_parcels (i int PRIMARY KEY, z int, x int, y int, codes text);
\copy bench_parcels FROM '$PG_WORK/parcels.tsv'
CREATE FUNCTION bench_tile(z int, x int, y int, codes text) RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE AS \$\$
DECLARE
  env geometry := ST_TileEnvelope(z, x, y);
  -- The tile plus its 64-pixel buffer, in the storage CRS, for the GiST index.
  q geometry := ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326);
  l record;
  part bytea;
  tile bytea := '';
BEGIN
  FOR l IN SELECT * FROM bench_layers
           WHERE z BETWEEN minzoom AND maxzoom AND code = ANY (string_to_array(codes, ','))
           ORDER BY ord LOOP
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
pgbench=/usr/lib/postgresql/15/bin/pgbench
for list in map parcels; do
  n=$(wc -l < "$PG_WORK/$list.tsv")
  cat > "$PG_WORK/$list.sql" <<SQL
\set i random(1, $n)
SELECT length(bench_tile(z, x, y, codes)) FROM bench_$list WHERE i = :i;
SQL
  "$pgbench" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_EACH" -f "$PG_WORK/$list.sql" "$BENCH_URL" \
    > "$PG_WORK/pgbench.txt" 2>&1
  tps=$(awk '/^tps/ {printf "%.0f", $3; exit}' "$PG_WORK/pgbench.txt")
  lat=$(awk '/latency average/ {print $4 " " $5}' "$PG_WORK/pgbench.txt")
  echo "postgis/$list/ST_AsMVT ($PARCELS parcels, the same $n tiles, $CONNECTIONS clients, no HTTP): $tps tiles/s, mean latency $lat"
done
