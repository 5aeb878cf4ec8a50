#!/usr/bin/env bash
# Fuzzes the import readers and the CQL2 filter: every target of fuzz/ for
# SECONDS each (default 60), one after the other.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]
#
# Needs a nightly toolchain (cargo-fuzz builds with -Zsanitizer=address) and
# installs cargo-fuzz when it is missing. Not run by CI, which has no nightly.
# The first build takes long: imgis and PROJ are built again with the
# sanitizer, in fuzz/target.
#
# New inputs go to fuzz/target/corpus/TARGET (not committed); the seeds in
# fuzz/corpus/TARGET are read, never written. A crash, timeout or memory
# blow-up stops that target and leaves its input in fuzz/artifacts/TARGET;
# the script goes on with the next target and fails at the end. See
# fuzz/README.md for reproducing and minimising.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(geojson shapefile csv_wkt flatgeobuf cql2_filter)

rustup toolchain list | grep -q '^nightly' || {
  echo "imgis: cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd fuzz
failed=()
for target in "${TARGETS[@]}"; do
  mkdir -p "target/corpus/$target"
  echo "imgis: fuzzing $target for ${SECONDS_EACH}s" >&2
  # -max_len: inputs up to 64 KiB (a few features; a filter as long as a URL
  # can be). -timeout: one input taking longer than 10 s is a hang, reported
  # as a crash. -rss_limit_mb also caps a single allocation.
  if ! cargo +nightly fuzz run "$target" "target/corpus/$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
      -max_len=65536 -print_final_stats=1; then
    failed+=("$target")
  fi
done
# The fuzz targets write their input files under /dev/shm (or the temp dir),
# one folder per process; remove them.
rm -rf /dev/shm/imgis-fuzz-* "${TMPDIR:-/tmp}"/imgis-fuzz-* 2>/dev/null || true

if [ ${#failed[@]} -gt 0 ]; then
  echo "imgis: findings in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
