#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock: installs
# Debian's docker.io when it is missing (as root, with apt) and starts
# dockerd when it is not running. Safe to run again.
set -euo pipefail
. "$(dirname "$0")/apt-install.sh"

engine_up() { docker info >/dev/null 2>&1; }
engine_up && exit 0

command -v dockerd >/dev/null 2>&1 || dtma_apt_install docker.io

if ! engine_up; then
  echo "dtma: starting dockerd (log: /var/log/dtma-dockerd.log)"
  nohup dockerd >/var/log/dtma-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
fi
engine_up || { echo "dtma: dockerd did not come up; see /var/log/dtma-dockerd.log" >&2; exit 1; }
