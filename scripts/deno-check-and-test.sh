#!/usr/bin/env bash
# Deno side of DTMA's tests: type-checks every edge function entry (and,
# through their imports, packages/contract's source) with the functions'
# deno.json, then runs one `deno test` over the functions' tests and the
# contract's compile-fail test, ending with Deno's "ok | N passed | N failed".
# The end-to-end test needs the built agent (npm run build) and Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1
deno=node_modules/.bin/deno
config=supabase/functions/deno.json

if [ ! -f packages/agent/dist/server.js ]; then
  echo "deno-check-and-test: packages/agent/dist/server.js is missing; run npm run build first" >&2
  exit 1
fi

echo "[deno] check"
"$deno" check --config "$config" supabase/functions/*/index.ts

echo "[deno] test"
"$deno" test --allow-all --config "$config" supabase/functions packages/contract/test-d/compile-fail_test.ts
