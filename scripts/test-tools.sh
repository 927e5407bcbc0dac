#!/usr/bin/env bash
# Tools the tests use besides the JDK and Maven: the Prometheus project's Python client,
# whose text-format parser checks /metrics. Installs Debian's package when it is missing
# (as root). Debian's python (/usr/bin/python3), not whichever python3 is first on PATH.
set -euo pipefail
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import prometheus_client.parser" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "python3-prometheus-client is missing and this is not root: run 'apt-get install -y python3-prometheus-client'" >&2
  exit 1
fi
echo "installing python3-prometheus-client (Debian's package)..." >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-prometheus-client >&2
