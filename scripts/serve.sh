#!/usr/bin/env bash
# Runs imgis on the embedded GeoPackage default (data/imgis.gpkg) with the demo
# city, on http://127.0.0.1:8080/. Installs the build prerequisites if missing.
# Extra arguments go to `imgis serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
exec cargo run --release -- serve "$@"
