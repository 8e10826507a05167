#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock: installs
# Debian's docker.io when it is missing (as root, with apt) and starts
# dockerd when it is not running. Safe to run again.
set -euo pipefail

engine_up() { docker info >/dev/null 2>&1; }
engine_up && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "dtma: no Docker engine here; install Docker (Debian: apt-get install docker.io) and start it" >&2
    exit 1
  fi
  echo "dtma: installing Debian's docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if ! engine_up; then
  echo "dtma: starting dockerd (log: /var/log/dtma-dockerd.log)"
  nohup dockerd >/var/log/dtma-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
fi
engine_up || { echo "dtma: dockerd did not come up; see /var/log/dtma-dockerd.log" >&2; exit 1; }
