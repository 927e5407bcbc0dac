#!/usr/bin/env bash
# Makes a local PostgreSQL available for the journal tests: installs Debian's package when
# it is missing (as root), starts the cluster, and creates the role and database the tests
# use. Prints the JDBC URL on stdout; everything else goes to stderr.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed and this is not root: run 'apt-get install -y postgresql'" >&2
    exit 1
  fi
  echo "installing PostgreSQL (Debian's package)..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')

as_postgres() { su postgres -c "$1"; }
for _ in $(seq 1 30); do
  as_postgres "psql -p $port -tAc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 1
done
if [ "$(as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'tenax'\"")" != 1 ]; then
  as_postgres "psql -p $port -qc \"CREATE ROLE tenax LOGIN PASSWORD 'tenax'\"" >&2
fi
if [ "$(as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname = 'tenax_test'\"")" != 1 ]; then
  as_postgres "createdb -p $port -O tenax tenax_test" >&2
fi
echo "jdbc:postgresql://127.0.0.1:$port/tenax_test"
