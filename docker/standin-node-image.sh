#!/usr/bin/env bash
# Makes a local stand-in for the base image `node:20-bookworm-slim` when no
# image registry is reachable (CI here), so docker/Dockerfile is built
# unmodified. The stand-in is what the official image is: a minimal Debian
# bookworm (debootstrap from the Debian mirror) with Node 20 under /usr/local
# (node, npm, and the headers node-gyp compiles native addons against).
# Node comes from this machine, so it must be Node 20. Does nothing when an
# image of that tag is already present.
set -euo pipefail

TAG="${1:-node:20-bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG is present"
  exit 0
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != 20 ]; then
  echo "this machine runs Node $node_major; a stand-in for $TAG needs Node 20" >&2
  exit 1
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null

root="$(mktemp -d /tmp/node-standin.XXXXXX)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null

# The official image's layout: node and npm under /usr/local, headers in
# /usr/local/include/node (node-gyp finds them through npm_config_nodedir).
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
node_headers=""
for dir in "$(node -p 'process.config.variables.node_prefix')/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$dir/node.h" ]; then node_headers="$dir"; break; fi
done
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
if [ -z "$node_headers" ]; then echo "no Node headers on this machine (node.h)" >&2; exit 1; fi
cp -a "$node_headers" "$root/usr/local/include/node"
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
