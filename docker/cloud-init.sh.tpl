#!/bin/bash
# DTMA on a new Agentopia toolbox: the droplet's user-data (cloud-init runs a
# user-data that starts with #!). The backend replaces each double-braced
# name in the assignments below with a shell-quoted value (single quotes, a '
# inside written '\''), then passes the text as user-data. It installs Docker
# when missing, keeps the agent's settings in a root-only env file, creates
# the store's named volume, runs the agent as dtma_manager (restart always,
# the image's health check, log limits, host networking) and waits until it
# is ready.
#
# Two ways to provision (docs/operations.md):
# - enrolment (recommended): DTMA_ENROLMENT_TOKEN, a single-use token the
#   backend issued (dtma_issue_enrolment), dead after one use or one hour.
#   The agent trades it at toolbox-enroll for its own credentials, kept in
#   its data volume; user-data then holds no long-lived secret, and a tool
#   that reads the cloud's metadata service finds only a dead token.
#   Leave DTMA_BEARER_TOKEN and BACKEND_TO_DTMA_API_KEY empty.
# - settings passed directly (compatibility): DTMA_BEARER_TOKEN and
#   BACKEND_TO_DTMA_API_KEY, both in user-data (README.md says what that exposes).
# The Supabase service-role key is never part of it: the agent does not read it.
#
#   DTMA_IMAGE                   the agent image, e.g. ghcr.io/OWNER/dtma-agent:0.2.0
#   DTMA_ENROLMENT_TOKEN         the single-use enrolment token ('' for the compatibility path)
#   AGENTOPIA_API_BASE_URL       the functions URL (toolbox-enroll, heartbeat, registry live there)
#   DTMA_BEARER_TOKEN            compatibility path: this toolbox's token (32 characters or more)
#   BACKEND_TO_DTMA_API_KEY      compatibility path: the backend's key (32 characters or more)
#   SUPABASE_URL                 compatibility path, optional: the project URL for the registry
#                                function ('' leaves the registry mirror off; enrolment gives it)
#   ACCOUNT_TOOL_ENVIRONMENT_ID  compatibility path, optional: this toolbox's account_tool_environments.id
#   REGISTRY_USER, REGISTRY_PASSWORD  optional: credentials of a private image registry
#   DTMA_EXTRA_SETTINGS          optional: more KEY=value lines of the agent's settings (README.md)
set -euo pipefail

DTMA_IMAGE={{DTMA_IMAGE}}
DTMA_ENROLMENT_TOKEN={{DTMA_ENROLMENT_TOKEN}}
DTMA_BEARER_TOKEN={{DTMA_BEARER_TOKEN}}
BACKEND_TO_DTMA_API_KEY={{BACKEND_TO_DTMA_API_KEY}}
AGENTOPIA_API_BASE_URL={{AGENTOPIA_API_BASE_URL}}
SUPABASE_URL={{SUPABASE_URL}}
ACCOUNT_TOOL_ENVIRONMENT_ID={{ACCOUNT_TOOL_ENVIRONMENT_ID}}
REGISTRY_USER={{REGISTRY_USER}}
REGISTRY_PASSWORD={{REGISTRY_PASSWORD}}
DTMA_EXTRA_SETTINGS={{DTMA_EXTRA_SETTINGS}}
# Fixed on a toolbox; named here so a test can run the Docker part beside others.
DTMA_CONTAINER="${DTMA_CONTAINER:-dtma_manager}"
DTMA_PORT="${DTMA_PORT:-30000}"
DTMA_HOST="${DTMA_HOST:-0.0.0.0}"
DTMA_DATA_VOLUME="${DTMA_DATA_VOLUME:-dtma-data}"
DTMA_ENV_FILE="${DTMA_ENV_FILE:-/etc/dtma/agent.env}"
DTMA_READY_TIMEOUT_S="${DTMA_READY_TIMEOUT_S:-180}"

# --- install Docker if missing ---
if ! command -v docker >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io curl
fi
systemctl enable --now docker >/dev/null 2>&1 || true
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
# --- Docker part (packages/agent/test-serial/cloud-init.test.ts runs it) ---

# The settings, root-only: tokens never appear on a command line.
mkdir -p "$(dirname "$DTMA_ENV_FILE")"
umask 077
{
  if [ -n "$DTMA_ENROLMENT_TOKEN" ]; then
    # Enrolment: the only secret is single-use; the credentials land in the data volume.
    echo "DTMA_ENROLMENT_TOKEN=$DTMA_ENROLMENT_TOKEN"
  else
    if [ -n "$DTMA_BEARER_TOKEN" ]; then echo "DTMA_BEARER_TOKEN=$DTMA_BEARER_TOKEN"; fi
    if [ -n "$BACKEND_TO_DTMA_API_KEY" ]; then echo "BACKEND_TO_DTMA_API_KEY=$BACKEND_TO_DTMA_API_KEY"; fi
    if [ -n "$SUPABASE_URL" ]; then echo "SUPABASE_URL=$SUPABASE_URL"; fi
    if [ -n "$ACCOUNT_TOOL_ENVIRONMENT_ID" ]; then echo "ACCOUNT_TOOL_ENVIRONMENT_ID=$ACCOUNT_TOOL_ENVIRONMENT_ID"; fi
  fi
  echo "AGENTOPIA_API_BASE_URL=$AGENTOPIA_API_BASE_URL"
  echo "PORT=$DTMA_PORT"
  echo "HOST=$DTMA_HOST"
  # POST /redeploy finds its own container by this name (host networking shares the host's name).
  echo "DTMA_AGENT_CONTAINER=$DTMA_CONTAINER"
  if [ -n "$DTMA_EXTRA_SETTINGS" ]; then printf '%s\n' "$DTMA_EXTRA_SETTINGS"; fi
} > "$DTMA_ENV_FILE"
chmod 600 "$DTMA_ENV_FILE"

if [ -n "$REGISTRY_USER" ]; then
  printf '%s' "$REGISTRY_PASSWORD" | docker login --username "$REGISTRY_USER" --password-stdin "${DTMA_IMAGE%%/*}" >/dev/null
fi
docker image inspect "$DTMA_IMAGE" >/dev/null 2>&1 || docker pull -q "$DTMA_IMAGE" >/dev/null

# The store outlives every container of the agent.
docker volume create "$DTMA_DATA_VOLUME" >/dev/null
# Run again (a rebuilt droplet, a re-run user-data): the same store, a new container.
docker rm -f "$DTMA_CONTAINER" >/dev/null 2>&1 || true
# Host networking: the agent listens on the host's port itself and reaches
# its tools' own addresses (an MCP proxy needs that); it is root-equivalent
# through the Docker socket anyway. NET_ADMIN and the host's xtables lock:
# the agent installs the tool network policy in the host's iptables, beside
# Docker's own rules (without them it reports degraded and runs no tool).
# The image's HEALTHCHECK asks /health.
touch /run/xtables.lock
docker run -d --name "$DTMA_CONTAINER" --restart always --network host \
  --cap-add NET_ADMIN \
  -v /run/xtables.lock:/run/xtables.lock \
  --env-file "$DTMA_ENV_FILE" \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$DTMA_DATA_VOLUME":/var/lib/dtma \
  --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 \
  "$DTMA_IMAGE" >/dev/null

ready_host="$DTMA_HOST"
[ "$ready_host" = 0.0.0.0 ] && ready_host=127.0.0.1
for _ in $(seq 1 "$DTMA_READY_TIMEOUT_S"); do
  if docker exec "$DTMA_CONTAINER" node -e "fetch('http://$ready_host:$DTMA_PORT/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then
    echo "dtma: $DTMA_CONTAINER is ready on port $DTMA_PORT"
    exit 0
  fi
  sleep 1
done
echo "dtma: $DTMA_CONTAINER was not ready within $DTMA_READY_TIMEOUT_S s; docker logs $DTMA_CONTAINER says why" >&2
docker logs --tail 50 "$DTMA_CONTAINER" >&2 || true
exit 1
