#!/usr/bin/env bash
# Makes a local stand-in for the base image `node:24-bookworm-slim` when no
# image registry is reachable (CI here), so docker/Dockerfile is built
# unmodified. The stand-in is what the official image is where the Dockerfile
# relies on it: a minimal Debian bookworm (debootstrap from the Debian mirror)
# with Node 24, npm and npx under /usr/local. Node is the one
# scripts/ensure-node.sh puts first on PATH (this machine's when it is 24,
# else the official binary from the npm registry); npm is this machine's.
# No headers: nothing in the image compiles a native addon. Does nothing when
# an image of that tag is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${1:-node:24-bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG is present"
  exit 0
fi

. scripts/ensure-node.sh
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null

root="$(mktemp -d /tmp/node-standin.XXXXXX)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null

# The official image's layout: node and npm under /usr/local.
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# Node's shared libraries (ldd) that minbase lacks.
for lib in $(ldd "$node_bin" | awk '$3 ~ /^\// { print $3 }'); do
  [ -e "$root$lib" ] || install -D "$lib" "$root$lib"
done
# This machine reaches the npm registry through a TLS-intercepting egress
# proxy whose CA it trusts via NODE_EXTRA_CA_CERTS; the stand-in trusts the
# same bundle, or npm ci in the build stage fails with SELF_SIGNED_CERT_IN_CHAIN.
extra_env=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$root/usr/local/share/dtma-standin/extra-ca.crt"
  extra_env=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/dtma-standin/extra-ca.crt')
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION='"$(node -p process.versions.node)" \
  --change 'CMD ["node"]' \
  "${extra_env[@]}" \
  - "$TAG" >/dev/null
echo "made stand-in $TAG (Debian bookworm minbase + Node $(node -v))"
