# Shared by the scripts in this folder: install what a fresh Debian machine lacks.
# Sourced, not run.

# ensure_packages PKG…: installs the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "imgis: installing ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building imgis needs beyond the Rust toolchain: PROJ is built from source
# (crate proj-sys, feature bundled_proj) with cmake and a C++ compiler.
ensure_build_deps() {
  ensure_packages cmake g++ sqlite3 pkg-config
}
