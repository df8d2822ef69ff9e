#!/usr/bin/env bash
# Installs the npm dependencies exactly as locked, only when they are missing or older than the lockfile,
# so `npm start` and `npm test` are idempotent and fast on a second run.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" ]]; then
  echo "[strata] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
