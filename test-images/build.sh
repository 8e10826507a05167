#!/usr/bin/env bash
# Builds the local test images from Debian's busybox-static (no registry
# pull); `npm run setup` builds them too, for the README's quick start.
# Usage: bash test-images/build.sh   (needs a running Docker engine; installs
# busybox-static as root with apt when it is missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../scripts/apt-install.sh"
# Debian's busybox-static: a static binary that runs in an empty image.
command -v busybox >/dev/null 2>&1 || dtma_apt_install busybox-static
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
