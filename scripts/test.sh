#!/usr/bin/env bash
# Runs the whole test suite against a real, throwaway PostGIS cluster.
#
# On a fresh Debian machine (as root, or with sudo) it installs what is missing:
# PostgreSQL 15 + PostGIS 3, GDAL's ogrinfo (the reference GeoPackage and
# PMTiles reader, and the OGC API - Features client), Debian's chromium with
# playwright-core from npm (the web map's browser test; Node.js 20+ comes with
# the machine), OWSLib from PyPI in a virtual environment, and the build
# prerequisites. It starts a private cluster in a temp dir on a
# free port (no Docker, nothing shared with a system cluster), runs
# `cargo test` with DATABASE_URL pointing at it, and stops and removes the
# cluster however the tests end. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_build_deps
ensure_packages gdal-bin chromium
if ! command -v node >/dev/null; then
  ensure_packages nodejs npm
fi
# playwright-core, pinned by tests/web/package-lock.json.
[ -d tests/web/node_modules/playwright-core ] || npm ci --prefix tests/web --no-audit --no-fund --loglevel=error
# OWSLib from PyPI (the OGC API - Features client test), pinned, in a virtual
# environment of its own under target/.
OWSLIB_VERSION=0.35.0
VENV=target/test-python
python3 -c 'import venv, ensurepip' 2>/dev/null || ensure_packages python3-venv
if ! "$VENV/bin/python" -c "import owslib, sys; sys.exit(owslib.__version__ != '$OWSLIB_VERSION')" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "owslib==$OWSLIB_VERSION"
fi
export IMGIS_TEST_PYTHON="$PWD/$VENV/bin/python"
# The load test (tests/load.rs, benches/load_test.sh) drives the test build's
# imgis with wrk.
ensure_packages wrk curl
start_throwaway_postgis

status=0
cargo test "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "imgis: tests failed; last lines of the PostgreSQL log:" >&2
  tail -n 20 "$PG_WORK/postgres.log" >&2 || true
fi
exit $status
