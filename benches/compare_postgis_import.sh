#!/usr/bin/env bash
# Importing a large GeoJSON file into PostGIS: `imgis import` beside GDAL's
# ogr2ogr, the usual way to load such a file, on the same file and database.
#
# The file: benches/make_import_data.py, COPIES (default 49) copies of the
# 7 234 parcels of Forest City NC on a grid, 354 466 features, ~180 MB,
# made once under target/bench-import/.
# - ogr2ogr (its defaults: COPY, 100 000 features per transaction, the GiST
#   index built after the load; no validity checks, so the 3 empty and 3
#   invalid parcels of each copy are loaded as they are):
#   `ogr2ogr -f PostgreSQL PG:… FILE -nln bench_ogr -overwrite
#    -lco GEOMETRY_NAME=geom -nlt PROMOTE_TO_MULTI`, table dropped before
#   each run.
# - imgis: `imgis import FILE --layer bench_parcels --kind other
#   --mode replace --invalid skip` (invalid features skipped, so fewer rows).
# RUNS (default 3) runs each, wall time, median reported.
#
# DATABASE_URL: a PostGIS database to load into (tables bench_ogr and the
# imgis layer bench_parcels are replaced). Unset: a throwaway cluster as in the
# other scripts (benches/lib.sh), database bench_import.
# SKIP_IMGIS=1: ogr2ogr only (no cargo build, no imgis runs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. benches/lib.sh

COPIES=${COPIES:-49}
RUNS=${RUNS:-3}
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}  # seconds, per run
SKIP_IMGIS=${SKIP_IMGIS:-0}
DATA_DIR=target/bench-import
FILE=$DATA_DIR/parcels$COPIES.geojson
LOGS=$DATA_DIR/logs

ensure_packages gdal-bin postgresql-client-15
if [ -z "${DATABASE_URL:-}" ]; then
  start_throwaway_postgis
  psql -q "$DATABASE_URL" -c "CREATE DATABASE bench_import TEMPLATE imgis_template"
  export DATABASE_URL="${DATABASE_URL%/*}/bench_import"
else
  PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS postgis"
fi

if [ "$SKIP_IMGIS" != 1 ]; then
  ensure_build_deps
  cargo build --release --quiet
  if ! target/release/imgis import --help >/dev/null 2>&1; then
    echo "imgis: target/release/imgis has no working \`import\` command yet (\`imgis import --help\` fails); SKIP_IMGIS=1 runs ogr2ogr alone" >&2
    exit 1
  fi
fi

mkdir -p "$DATA_DIR" "$LOGS"
if [ ! -s "$FILE" ]; then
  python3 benches/make_import_data.py "$FILE" --copies "$COPIES" >&2
fi
bytes=$(stat -c %s "$FILE")

# The libpq keyword/value conninfo GDAL's PG: prefix takes, from the URL.
conninfo=$(python3 - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import urlsplit, unquote, parse_qsl
u = urlsplit(sys.argv[1])
kv = {"host": u.hostname, "port": u.port, "dbname": unquote(u.path.lstrip("/")) or None,
      "user": unquote(u.username) if u.username else None,
      "password": unquote(u.password) if u.password else None}
kv.update(parse_qsl(u.query))
q = lambda v: "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
print(" ".join(f"{k}={q(v)}" for k, v in kv.items() if v is not None))
PY
)

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
median() { printf '%s\n' "$@" | python3 -c 'import sys, statistics; print(f"{statistics.median(float(l) for l in sys.stdin):.2f}")'; }

# timed LABEL LOG CMD…: runs CMD (bounded by RUN_TIMEOUT), output to LOG,
# prints the wall seconds; on failure shows the log's end and exits.
timed() {
  local label=$1 log=$2 t0 t1
  shift 2
  sql "CHECKPOINT" >/dev/null 2>&1 || true
  t0=$(date +%s.%N)
  if ! timeout "$RUN_TIMEOUT" "$@" >"$log" 2>&1; then
    echo "$label failed (log $log):" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

# ogr2ogr.
ogr_cmd=(ogr2ogr -f PostgreSQL "PG:$conninfo" "$FILE" -nln bench_ogr -overwrite
  -lco GEOMETRY_NAME=geom -nlt PROMOTE_TO_MULTI)
ogr_times=()
for i in $(seq 1 "$RUNS"); do
  sql "DROP TABLE IF EXISTS bench_ogr"
  t=$(timed "ogr2ogr run $i" "$LOGS/ogr2ogr.$i.log" "${ogr_cmd[@]}")
  echo "ogr2ogr run $i: $t s" >&2
  ogr_times+=("$t")
done
ogr_median=$(median "${ogr_times[@]}")
ogr_rows=$(sql "select count(*) from bench_ogr")
ogr_odd=$(sql "select count(*) filter (where geom is null) || ' null geometry, ' || count(*) filter (where ST_IsEmpty(geom)) || ' empty, ' || count(*) filter (where not ST_IsEmpty(geom) and not ST_IsValid(geom)) || ' invalid' from bench_ogr")

# imgis.
if [ "$SKIP_IMGIS" != 1 ]; then
  imgis_times=()
  for i in $(seq 1 "$RUNS"); do
    t=$(timed "imgis import run $i" "$LOGS/imgis.$i.log" \
      target/release/imgis import "$FILE" --layer bench_parcels --kind other --mode replace --invalid skip --database "$DATABASE_URL")
    echo "imgis import run $i: $t s" >&2
    imgis_times+=("$t")
  done
  imgis_median=$(median "${imgis_times[@]}")
  imgis_layer_count=$(sql "select feature_count from layers where code='bench_parcels'")
  imgis_rows=$(sql "select count(*) from features f join layers l on l.id=f.layer_id where l.code='bench_parcels'")
fi

# row TOOL FEATURES MEDIAN RATIO
row() {
  python3 - "$@" "$bytes" <<'PY'
import sys
tool, features, median, ratio, size = sys.argv[1:]
features, median, size = int(features), float(median), int(size)
print(f"| {tool} | {features} | {median:.2f} | {features / median:,.0f} | {size / 1e6 / median:.1f} | {ratio} |")
PY
}
echo
echo "Import of $FILE ($COPIES copies, $(python3 -c "print(round($bytes / 1e6, 1))") MB), median of $RUNS runs, PostgreSQL at ${DATABASE_URL%%\?*}:"
echo
echo "| tool | features | median s | features/s | MB/s | ogr2ogr/imgis time |"
echo "|---|---|---|---|---|---|"
if [ "$SKIP_IMGIS" != 1 ]; then
  ratio=$(python3 -c "print(f'{$ogr_median / $imgis_median:.2f}')")
  row ogr2ogr "$ogr_rows" "$ogr_median" "$ratio"
  row "imgis import" "$imgis_rows" "$imgis_median" "$ratio"
else
  row ogr2ogr "$ogr_rows" "$ogr_median" "(SKIP_IMGIS)"
fi
echo
echo "ogr2ogr runs: ${ogr_times[*]} s; rows in bench_ogr: $ogr_rows ($ogr_odd)"
if [ "$SKIP_IMGIS" != 1 ]; then
  echo "imgis runs: ${imgis_times[*]} s; layers.feature_count: $imgis_layer_count, rows in features: $imgis_rows"
  [ "$imgis_layer_count" = "$imgis_rows" ] || echo "WARNING: layers.feature_count ($imgis_layer_count) differs from the rows in features ($imgis_rows)"
fi
echo "ogr2ogr command: ogr2ogr -f PostgreSQL PG:\"$(sed "s/password='[^']*'/password=…/" <<<"$conninfo")\" $FILE -nln bench_ogr -overwrite -lco GEOMETRY_NAME=geom -nlt PROMOTE_TO_MULTI"
