#!/usr/bin/env bash
# Builds the local test images from Debian's busybox-static (no registry pull).
# Usage: bash test-images/build.sh   (needs a running Docker engine)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Debian's busybox-static: a static binary that runs in an empty image.
busybox_bin="$(command -v busybox)"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/busybox/Dockerfile" "$ctx/"
cp "$busybox_bin" "$ctx/busybox"
mkdir -p "$ctx/www"
echo 'dtma-test-ok' > "$ctx/www/index.html"
# v1 tag: what the tests deploy; v2 tag: the same image under a second name (spec changes).
DOCKER_BUILDKIT=0 docker build -q -t dtma-test/busybox:v1 "$ctx" >/dev/null
docker tag dtma-test/busybox:v1 dtma-test/busybox:v2
echo "built dtma-test/busybox:v1 and :v2"
