#!/usr/bin/env bash
# Builds DTMA's drift-lock test images (dtma-test/mcp-drift:v1, :v2) on top
# of the MCP test image build.sh makes (its Node, the SDK and zod): one layer
# with drift/drift.mjs, the tag's version baked into the CMD, so the tool's
# description comes from the image. Cached by the hash of its inputs, apart
# from build.sh's, so adding it rebuilds none of the other images.
# Usage: bash test-images/mcp/build-drift.sh   (after build.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
from=dtma-test/mcp-tools:v1
label=dtma-test.drift-images-hash
hash="$( (cd "$here" && cat drift/drift.mjs build-drift.sh; docker image inspect --format '{{.Id}}' "$from") | sha256sum | cut -c1-16)"
current() { docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null || true; }
for version in v1 v2; do
  tag="dtma-test/mcp-drift:$version"
  [ "$(current "$tag")" = "$hash" ] && continue
  ctx="$(mktemp -d)"
  cp "$here/drift/drift.mjs" "$ctx/"
  printf 'FROM %s\nCOPY drift.mjs /app/servers/drift.mjs\nCMD ["servers/drift.mjs", "%s"]\n' "$from" "$version" >"$ctx/Dockerfile"
  out="$(DOCKER_BUILDKIT=0 docker build -q --label "$label=$hash" -t "$tag" "$ctx" 2>&1)" || { echo "$out" >&2; rm -rf "$ctx"; exit 1; }
  rm -rf "$ctx"
done
echo "drift test images up to date ($hash)"
