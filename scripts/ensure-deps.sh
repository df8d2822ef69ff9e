#!/usr/bin/env bash
# Installs the npm dependencies exactly as locked, only when they are missing or older than the lockfile,
# so `npm start` and `npm test` are idempotent and fast on a second run.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" ]]; then
  echo "[strata] installing npm dependencies from package-lock.json" >&2
  # Not `npm ci`: it insists every optional platform package in the lock (e.g. jest's resolver bindings for
  # darwin/win32) is resolvable, and registries that serve only this platform's builds make it fail. A plain
  # install with --no-save installs exactly the locked versions and never rewrites the lock.
  npm install --no-save --no-audit --no-fund --loglevel=error >&2
fi
