#!/usr/bin/env bash
# CTest entry of the official-client test: run.sh HARK_BINARY SOURCE_DIR SHARED_DIR_DEFAULT.
# Installs the pinned client with `npm ci` (from package-lock.json) when node_modules is missing
# or older than the lockfile, then runs `node --test`. Exit 77 (CTest: skipped) only when node or
# npm is not installed at all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node/npm not installed (scripts/install-deps.sh installs them); the official openai client test did not run"
  exit 77
fi
export HARK_BINARY="${HARK_BINARY:-$1}"
export HARK_MODEL="${2}/tests/data/models/tiny-v3-random"
export HARK_AUDIO="${HARK_SHARED:-$3}/assets/jfk.wav"
cd "$here"
if [ ! -d node_modules/openai ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test --test-concurrency=1 openai_client.test.mjs
