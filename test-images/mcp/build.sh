#!/usr/bin/env bash
# Builds DTMA's MCP test images, FROM scratch, from this machine's Node 24
# (the binary and the libraries ldd lists), Debian's busybox-static and the
# MCP servers of package.json installed from the npm registry; no image
# registry is needed. Idempotent and cached: every image carries the hash of
# its inputs and is built again only when they change.
# Usage: bash test-images/mcp/build.sh   (needs Docker, busybox and npm)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../../scripts/ensure-node.sh"

node_bin="$(readlink -f "$(command -v node)")"
busybox_bin="$(readlink -f "$(command -v busybox)")"
hash="$( (cd "$here" && cat package.json package-lock.json Dockerfile run.sh build.sh servers/*.mjs; "$node_bin" -v; sha256sum "$busybox_bin") | sha256sum | cut -c1-16)"
base="dtma-test/mcp-base:$hash"
# Not under dtma.: an agent refuses images that carry labels under its own prefix.
label=dtma-test.images-hash
server=node_modules/@modelcontextprotocol/server-everything/dist/index.js

# tag | the CMD of run.sh (the server and its arguments) | ENV (space-separated KEY=value) | port to EXPOSE.
# The real servers get what they need to start offline: a dummy Notion token, their
# upstream API pointed at a closed local port (calls fail at once, the same way every
# time), no telemetry, and Playwright without a browser (it lists tools; calls say
# the browser is missing).
c7=node_modules/@upstash/context7-mcp/dist/index.js
notion=node_modules/@notionhq/notion-mcp-server/bin/cli.mjs
playwright=node_modules/@playwright/mcp/cli.js
memory=node_modules/@modelcontextprotocol/server-memory/dist/index.js
# The conformance suite's reference server (Node strips its types), on the same base with its own
# hash: its express, cors and zod are the SDK's own dependencies, installed with it.
conformance=servers/conformance-everything.ts
conformance_hash="$hash-$(sha256sum "$here/$conformance" | cut -c1-8)"
conformance_images=(
  "dtma-test/mcp-conformance:stdio|\"$conformance\", \"stdio\"||"
  "dtma-test/mcp-conformance:http|\"$conformance\"||3001"
)
c7_env="OTEL_SDK_DISABLED=true CONTEXT7_API_URL=http://127.0.0.1:9"
notion_env="NOTION_TOKEN=ntn_dtma_test_dummy BASE_URL=http://127.0.0.1:9"
# The token Notion's http mode requires of its callers (the test knows it too).
notion_auth=dtma-test-notion-token
playwright_env="HOME=/tmp PLAYWRIGHT_MCP_HEADLESS=true"
images=(
  "dtma-test/mcp-everything:stdio|\"$server\", \"stdio\"||"
  "dtma-test/mcp-everything:http|\"$server\", \"streamableHttp\"|PORT=3001|3001"
  "dtma-test/mcp-everything:sse|\"$server\", \"sse\"|PORT=3001|3001"
  "dtma-test/mcp-tools:v1|\"servers/tools.mjs\", \"v1\"||"
  "dtma-test/mcp-tools:v2|\"servers/tools.mjs\", \"v2\"||"
  "dtma-test/mcp-hostile:flood|\"servers/hostile.mjs\", \"flood\"||"
  "dtma-test/mcp-hostile:garbage|\"servers/hostile.mjs\", \"garbage\"||"
  "dtma-test/mcp-hostile:silent|\"servers/hostile.mjs\", \"silent\"||"
  "dtma-test/mcp-hostile:chatty|\"servers/hostile.mjs\", \"chatty\"||"
  "dtma-test/mcp-context7:stdio|\"$c7\"|$c7_env|"
  "dtma-test/mcp-context7:http|\"$c7\", \"--transport\", \"http\", \"--port\", \"3001\"|$c7_env|3001"
  "dtma-test/mcp-notion:stdio|\"$notion\"|$notion_env|"
  "dtma-test/mcp-notion:http|\"$notion\", \"--transport\", \"http\", \"--port\", \"3001\", \"--host\", \"0.0.0.0\", \"--auth-token\", \"$notion_auth\"|$notion_env|3001"
  "dtma-test/mcp-playwright:stdio|\"$playwright\"|$playwright_env|"
  "dtma-test/mcp-playwright:http|\"$playwright\"|$playwright_env PLAYWRIGHT_MCP_HOST=0.0.0.0 PLAYWRIGHT_MCP_PORT=3001|3001"
  "dtma-test/mcp-memory:stdio|\"$memory\"|MEMORY_FILE_PATH=/tmp/memory.jsonl|"
)

# The legacy builder (the only one here) warns on every build: quiet unless it fails.
build() { local out; out="$(DOCKER_BUILDKIT=0 docker build -q --label "$label=$hash" "$@" 2>&1)" || { echo "$out" >&2; return 1; }; }
current() { docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null || true; }

stale=0
for entry in "${images[@]}"; do [ "$(current "${entry%%|*}")" = "$hash" ] || stale=1; done
for entry in "${conformance_images[@]}"; do [ "$(current "${entry%%|*}")" = "$conformance_hash" ] || stale=1; done
if [ "$stale" = 0 ]; then
  echo "MCP test images up to date ($hash)"
  exit 0
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/app/servers"
  cp "$node_bin" "$ctx/rootfs/usr/local/bin/node"
  cp "$busybox_bin" "$ctx/rootfs/bin/busybox"
  # The dynamic loader and every library node links against, at their paths.
  for lib in $(ldd "$node_bin" | awk '/=>/ && $3 ~ /^\// {print $3} $1 ~ /ld-linux/ {print $1}'); do
    cp -L --parents "$lib" "$ctx/rootfs/"
  done
  cp "$here/package.json" "$here/package-lock.json" "$here/run.sh" "$ctx/app/"
  cp "$here"/servers/*.mjs "$ctx/app/servers/"
  (cd "$ctx/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$here/Dockerfile" "$ctx/"
  build -t "$base" "$ctx"
fi

for entry in "${images[@]}"; do
  IFS='|' read -r tag cmd env port <<<"$entry"
  [ "$(current "$tag")" = "$hash" ] && continue
  {
    echo "FROM $base"
    [ -n "$env" ] && echo "ENV $env"
    [ -n "$port" ] && echo "EXPOSE $port"
    echo "CMD [$cmd]"
  } | build -t "$tag" -
done
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/$conformance" "$ctx/"
for entry in "${conformance_images[@]}"; do
  IFS='|' read -r tag cmd env port <<<"$entry"
  [ "$(current "$tag")" = "$conformance_hash" ] && continue
  {
    echo "FROM $base"
    echo "COPY $(basename "$conformance") /app/$conformance"
    [ -n "$port" ] && echo "ENV PORT=$port" && echo "EXPOSE $port"
    echo "CMD [$cmd]"
  } >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q --label "$label=$conformance_hash" -t "$tag" "$ctx" >/dev/null 2>"$ctx/err" || { cat "$ctx/err" >&2; exit 1; }
done
echo "built the MCP test images ($hash)"
