#!/usr/bin/env bash
# Install TimescaleDB for the system's PostgreSQL.
#
# Uses the distribution's package where one exists. Debian 12 has none, so the
# Apache-licensed source of the next Debian release is fetched with a private apt
# configuration (the mirror is read from this machine's own apt sources) and built
# against the installed server.
set -euo pipefail

PG_CONFIG="${PG_CONFIG:-$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -1)}"
if [[ -z "${PG_CONFIG}" || ! -x "${PG_CONFIG}" ]]; then
    echo "install-timescaledb: no pg_config found; install postgresql-server-dev-NN first" >&2
    exit 1
fi
PG_MAJOR="$("${PG_CONFIG}" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
PKGLIBDIR="$("${PG_CONFIG}" --pkglibdir)"

if compgen -G "${PKGLIBDIR}/timescaledb*.so" >/dev/null; then
    echo "install-timescaledb: already installed for PostgreSQL ${PG_MAJOR}"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

if apt-cache show "postgresql-${PG_MAJOR}-timescaledb" >/dev/null 2>&1; then
    ${SUDO} apt-get install -y "postgresql-${PG_MAJOR}-timescaledb"
    exit 0
fi

SOURCE_SUITE="${TIMESCALEDB_SOURCE_SUITE:-trixie}"
mirror="$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" {print $2}' || true;
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" {print $2}' || true; } \
    | awk '/\/debian\/?$/ {print; exit}'
)"
if [[ -z "${mirror}" ]]; then
    echo "install-timescaledb: no Debian mirror found in this machine's apt sources" >&2
    exit 1
fi

work="$(mktemp -d /var/tmp/semon-timescaledb.XXXXXX)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/lists/partial" "${work}/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${SOURCE_SUITE} main" \
    >"${work}/sources.list"
apt_private=(
    -o "Dir::Etc::SourceList=${work}/sources.list"
    -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=${work}/lists"
    -o "APT::Get::List-Cleanup=0"
)
apt-get "${apt_private[@]}" update
(cd "${work}/src" && apt-get "${apt_private[@]}" source --download-only timescaledb)
(cd "${work}/src" && dpkg-source -x --no-check ./*.dsc timescaledb)

cd "${work}/src/timescaledb"
./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DPG_CONFIG="${PG_CONFIG}"
make -C build -j"$(nproc)"
${SUDO} make -C build install
echo "install-timescaledb: built and installed for PostgreSQL ${PG_MAJOR}"
