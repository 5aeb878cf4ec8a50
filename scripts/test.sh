#!/usr/bin/env bash
# Runs the whole test suite against a real, throwaway PostGIS cluster.
#
# On a fresh Debian machine (as root, or with sudo) it installs what is missing:
# PostgreSQL 15 + PostGIS 3, GDAL's ogrinfo (the reference GeoPackage reader),
# and the build prerequisites. It starts a private cluster in a temp dir on a
# free port (no Docker, nothing shared with a system cluster), runs
# `cargo test` with DATABASE_URL pointing at it, and stops and removes the
# cluster however the tests end. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_build_deps
ensure_packages postgresql-15 postgresql-15-postgis-3 gdal-bin

PGBIN=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/imgis-test-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# PostgreSQL refuses to run as root: run the cluster as the postgres user when we are root.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"${as_pg[@]}" "$PGBIN/initdb" -D "$work/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
# fsync off: a throwaway cluster need not survive a power cut, and tests run faster.
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
  start >/dev/null
echo "imgis: throwaway PostGIS on 127.0.0.1:$port (data in $work)" >&2

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
# A template with PostGIS installed: each test clones it into its own database in milliseconds.
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE imgis_template" \
  -c "\c imgis_template" -c "CREATE EXTENSION postgis" >/dev/null

status=0
cargo test "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "imgis: tests failed; last lines of the PostgreSQL log:" >&2
  tail -n 20 "$work/postgres.log" >&2 || true
fi
exit $status
