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

# start_throwaway_postgis: starts a private PostgreSQL 15 + PostGIS cluster in a
# temp dir on a free loopback port, exports DATABASE_URL (database `postgres`,
# superuser, no password) and PG_WORK, and stops and removes it when the calling
# script exits. Makes the template `imgis_template` with PostGIS installed.
start_throwaway_postgis() {
  ensure_packages postgresql-15 postgresql-15-postgis-3
  PGBIN=/usr/lib/postgresql/15/bin
  PG_WORK=$(mktemp -d /tmp/imgis-pg.XXXXXX)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # PostgreSQL refuses to run as root: run the cluster as the postgres user when we are root.
  AS_PG=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_WORK"
    AS_PG=(runuser -u postgres --)
  fi
  trap stop_throwaway_postgis EXIT INT TERM
  "${AS_PG[@]}" "$PGBIN/initdb" -D "$PG_WORK/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  # fsync off: a throwaway cluster need not survive a power cut, and it runs faster.
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PG_WORK/data" -l "$PG_WORK/postgres.log" -w \
    -o "-p $port -k $PG_WORK -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c shared_buffers=512MB" \
    start >/dev/null
  echo "imgis: throwaway PostGIS on 127.0.0.1:$port (data in $PG_WORK)" >&2
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export PG_WORK
  # A template with PostGIS installed: each test clones it into its own database in milliseconds.
  psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE imgis_template" \
    -c "\c imgis_template" -c "CREATE EXTENSION postgis" >/dev/null
}

stop_throwaway_postgis() {
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PG_WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_WORK"
}
