#!/usr/bin/env bash
# The index's bbox and point queries beside PostGIS answering the same queries
# on the same data (the demo city, PARCELS parcels, default 300 000).
#
# PostGIS side: pgbench, one client, prepared statements, no HTTP, the GiST index
# on features.geom, windows of 250 m × 250 m at random spots of the parcels'
# extent, and random points (exact ST_Intersects in both cases, as the index does).
# imgis side: `cargo bench --bench index` (criterion, one thread).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
start_throwaway_postgis

PARCELS=${PARCELS:-300000}
SECONDS_EACH=${SECONDS_EACH:-15}
cargo build --release --quiet
psql -q "$DATABASE_URL" -c "CREATE DATABASE bench TEMPLATE imgis_template"
BENCH_URL="${DATABASE_URL%/*}/bench"
target/release/imgis demo --database "$BENCH_URL" --parcels "$PARCELS" >&2
psql -q "$BENCH_URL" -c "VACUUM ANALYZE features"

read -r lid xmin ymin xmax ymax < <(psql -At -F ' ' "$BENCH_URL" -c \
  "SELECT l.id, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
   FROM layers l, LATERAL (SELECT ST_Extent(geom) e FROM features WHERE layer_id = l.id) x WHERE l.code = 'parcels'")
# 250 m in degrees at Kazan's latitude: 1° lat ≈ 111.3 km, 1° lon ≈ 62.6 km (as benches/index.rs).
w=$(python3 -c "print(250/62600)"); h=$(python3 -c "print(250/111300)")
cat > "$PG_WORK/bbox.sql" <<SQL
\set lon $xmin + random(0, 1000000) * ($xmax - $xmin - $w) / 1000000.0
\set lat $ymin + random(0, 1000000) * ($ymax - $ymin - $h) / 1000000.0
SELECT count(*) FROM features WHERE layer_id = $lid
  AND ST_Intersects(geom, ST_MakeEnvelope(:lon, :lat, :lon + $w, :lat + $h, 4326));
SQL
cat > "$PG_WORK/point.sql" <<SQL
\set lon $xmin + random(0, 1000000) * ($xmax - $xmin) / 1000000.0
\set lat $ymin + random(0, 1000000) * ($ymax - $ymin) / 1000000.0
SELECT id FROM features WHERE layer_id = $lid
  AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) LIMIT 1;
SQL
pgbench=/usr/lib/postgresql/15/bin/pgbench
for q in bbox point; do
  tps=$("$pgbench" -n -M prepared -c 1 -T "$SECONDS_EACH" -f "$PG_WORK/$q.sql" "$BENCH_URL" 2>/dev/null \
        | awk '/^tps/ {print $3; exit}')
  echo "postgis/$q ($PARCELS parcels, 1 client): $tps queries/s"
done
IMGIS_BENCH_PARCELS=$PARCELS cargo bench --bench index -- --noplot 2>&1 | grep -E "index of|bbox 250|^index/|time:"
