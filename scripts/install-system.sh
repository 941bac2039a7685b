#!/usr/bin/env bash
# Installs what Sensorium needs from Debian's packages and builds the TimescaleDB extension.
#
# Idempotent: every step is skipped when its result is already there, so `make run` and
# `make test` call it every time. Needs root or sudo only for the steps that install something.
#
#   - PostgreSQL 15 server and headers, nginx, and a C toolchain, from Debian's packages;
#   - TimescaleDB 2.19.3 (Apache-2 edition) from Debian trixie's `timescaledb` source package,
#     fetched with a private apt configuration (the system's apt sources are left untouched),
#     built with cmake against postgresql-server-dev-15 and installed into PostgreSQL's dirs.
set -euo pipefail

TSDB_VERSION="2.19.3"
PG_MAJOR="15"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$ROOT/.local/build"
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "[setup] '$*' needs root: run it as root or install sudo" >&2; exit 1
    fi
}

packages=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR nginx-light
          cmake gcc make xz-utils patch ca-certificates)
# Debian's own Python needs python3-venv for `python3 -m venv` (ensurepip).
if ! python3 -c "import ensurepip" 2>/dev/null; then packages+=(python3-venv); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    # The postgresql package would create and start a system cluster on 5432; Sensorium runs
    # its own cluster, so Debian's default one is not created.
    as_root mkdir -p /etc/postgresql-common
    [ -f /etc/postgresql-common/createcluster.conf ] ||
        echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

libdir="$("$PG_CONFIG" --pkglibdir)"
if [ -f "$libdir/timescaledb-$TSDB_VERSION.so" ]; then
    say "TimescaleDB $TSDB_VERSION already installed"
    exit 0
fi

say "building TimescaleDB $TSDB_VERSION from Debian trixie's source package"
rm -rf "$WORK" && mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
echo "deb-src http://deb.debian.org/debian trixie main" > "$WORK/apt/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
             -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
             -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
apt-get "${apt_private[@]}" update -qq
(cd "$WORK" && apt-get "${apt_private[@]}" source --download-only timescaledb -qq)
ls "$WORK"/timescaledb_"$TSDB_VERSION"*.orig.tar.xz >/dev/null 2>&1 ||
    { echo "[setup] trixie no longer carries timescaledb $TSDB_VERSION: update TSDB_VERSION" >&2; exit 1; }

src="$WORK/timescaledb-$TSDB_VERSION"
tar -xf "$WORK"/timescaledb_"$TSDB_VERSION"*.orig.tar.xz -C "$WORK"
tar -xf "$WORK"/timescaledb_"$TSDB_VERSION"*.debian.tar.xz -C "$src"
for patch in $(cat "$src/debian/patches/series"); do
    patch -s -p1 -d "$src" < "$src/debian/patches/$patch"
done
GIT_CEILING_DIRECTORIES="$WORK" cmake -S "$src" -B "$src/build" -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
      -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release -DPG_CONFIG="$PG_CONFIG" >"$WORK/cmake.log"
make -s -C "$src/build" -j"$(nproc)" >"$WORK/make.log" 2>&1 || { tail -30 "$WORK/make.log"; exit 1; }
as_root make -s -C "$src/build" install >"$WORK/install.log"
say "TimescaleDB $TSDB_VERSION installed into $libdir"
