#!/usr/bin/env bash
# Starts what DTMA's tests drive for real, if it is not up yet: the Docker
# engine, a loopback image registry for pull tests, the local test images
# (busybox, and real MCP servers),
# and PostgreSQL for the registry migration and writer tests and the edge
# functions' tests (their Supabase stand-in runs on it). Safe to run
# again; installs missing Debian packages as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-install.sh

bash scripts/ensure-docker.sh

missing=()
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] || dtma_apt_install "${missing[@]}"

registry_up() { (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; }
if ! registry_up; then
  echo "dtma: starting the test registry on 127.0.0.1:5000"
  nohup docker-registry serve test-images/registry.yml >/var/log/dtma-test-registry.log 2>&1 &
  for _ in $(seq 1 30); do registry_up && break; sleep 0.5; done
  registry_up || { echo "dtma: test registry did not start; see /var/log/dtma-test-registry.log" >&2; exit 1; }
fi

# PostgreSQL: Debian's cluster (whichever version is installed); the tests
# connect as postgres over TCP on 127.0.0.1 with a throwaway password
# (packages/agent/test/helpers/postgres.ts, DTMA_TEST_DATABASE_URL to override).
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  read -r pg_version pg_cluster < <(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2}') || true
  if [ -z "${pg_version:-}" ]; then
    pg_version="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
    pg_cluster=main
    pg_createcluster "$pg_version" "$pg_cluster" >/dev/null
  fi
  echo "dtma: starting PostgreSQL $pg_version/$pg_cluster"
  pg_ctlcluster "$pg_version" "$pg_cluster" start
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  pg_up || { echo "dtma: PostgreSQL did not start; see /var/log/postgresql/" >&2; exit 1; }
fi
su postgres -c "psql -qtAc \"alter user postgres password 'postgres'\"" >/dev/null

bash test-images/build.sh
# Real MCP servers from the npm registry on a locally made Node runtime (cached).
bash test-images/mcp/build.sh
bash test-images/mcp/build-drift.sh
