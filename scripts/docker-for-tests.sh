#!/usr/bin/env bash
# Makes Docker available for the container tests: installs Debian's docker.io when it is
# missing (as root), starts dockerd with link-local address pools when none answers (so that
# containers never take addresses from the private ranges), and builds the image's base,
# tenax-base:local (deploy/image/build-base.sh). The Maven build then makes the image itself.
# Exits non-zero, saying why on stderr, when Docker cannot be had here.
#   scripts/docker-for-tests.sh          set up
#   scripts/docker-for-tests.sh --stop   stop the dockerd this script started
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pidfile=/run/tenax-dockerd.pid

if [ "${1:-}" = --stop ]; then
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 1; done
    rm -f "$pidfile"
  fi
  exit 0
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "no Docker engine answers and this is not root: start dockerd (or install docker.io)" >&2
    exit 1
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing Docker (Debian's docker.io)..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io iptables >&2
  fi
  echo "starting dockerd (link-local address pools)..." >&2
  nohup dockerd --bip 169.254.201.1/24 --default-address-pool base=169.254.128.0/17,size=24 \
    >/var/log/tenax-dockerd.log 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  if ! docker info >/dev/null 2>&1; then
    echo "dockerd did not start; see /var/log/tenax-dockerd.log" >&2
    exit 1
  fi
fi
"$root/deploy/image/build-base.sh" >&2
