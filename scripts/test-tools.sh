#!/usr/bin/env bash
# Tools the tests use besides the JDK and Maven, as Debian packages, installed when missing
# (as root):
#   python3-prometheus-client  the Prometheus project's text-format parser checks /metrics
#                              (Debian's python, /usr/bin/python3, not whichever is on PATH)
#   iproute2, iptables         the multi-host tests make simulated hosts of network namespaces
set -euo pipefail
missing=()
if ! { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import prometheus_client.parser" >/dev/null 2>&1; }; then
  missing+=(python3-prometheus-client)
fi
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing test tools and this is not root: run 'apt-get install -y ${missing[*]}'" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian's packages)..." >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
