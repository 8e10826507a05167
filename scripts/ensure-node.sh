# Puts a Node 24 (or newer) first on PATH for everything run after it. DTMA
# needs it: Node 20's support ended in April 2026, and the agent uses
# node:sqlite and the global WebSocket. Sourced, not run, so the PATH
# carries over: `. scripts/ensure-node.sh` (.ci/run and the npm scripts that
# run the agent or its tests). When the node on PATH is older, it uses the one
# in $DTMA_NODE_DIR (default /opt/dtma-node24, the directory docker/dtma.service
# puts first on its PATH), installed there from the npm registry (the official
# binary, package node@24) when it is missing. Safe to source again.
dtma_ensure_node() {
  dtma_node_dir="${DTMA_NODE_DIR:-/opt/dtma-node24}"
  dtma_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
  [ "$(dtma_node_major node)" -ge 24 ] && return 0
  if [ "$(dtma_node_major "$dtma_node_dir/bin/node")" -lt 24 ]; then
    echo "dtma: the node on PATH is $(node -v 2>/dev/null || echo missing); installing Node 24 into $dtma_node_dir" >&2
    npm install -g --prefix "$dtma_node_dir" --no-audit --no-fund --loglevel=error node@24 >/dev/null || {
      echo "dtma: could not install Node 24 into $dtma_node_dir (set DTMA_NODE_DIR to a writable directory, or put a Node 24 first on PATH)" >&2
      return 1
    }
  fi
  PATH="$dtma_node_dir/bin:$PATH"
  export PATH
}
dtma_ensure_node
