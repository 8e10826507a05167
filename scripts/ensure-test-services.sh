#!/usr/bin/env bash
# Starts what DTMA's tests drive for real, if it is not up yet: the Docker
# engine, a loopback image registry for pull tests, and the local test
# images. Safe to run again; installs missing Debian packages as root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-docker.sh

missing=()
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
if [ ${#missing[@]} -gt 0 ]; then
  echo "dtma: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

registry_up() { (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; }
if ! registry_up; then
  echo "dtma: starting the test registry on 127.0.0.1:5000"
  nohup docker-registry serve test-images/registry.yml >/var/log/dtma-test-registry.log 2>&1 &
  for _ in $(seq 1 30); do registry_up && break; sleep 0.5; done
  registry_up || { echo "dtma: test registry did not start; see /var/log/dtma-test-registry.log" >&2; exit 1; }
fi

bash test-images/build.sh
