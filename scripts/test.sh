#!/usr/bin/env bash
# `npm test`: installs what is missing (idempotent), lints (determinism and layer rules, formatting, types), then
# runs jest.
# Every service a test needs (Temporal dev server, moto) is started by the tests on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/get-tools.sh >/dev/null
echo "[strata] lint"
npx --no-install eslint --max-warnings=0 .
npx --no-install prettier --check --log-level warn "src/**/*.ts" "test/**/*.ts" "scripts/**/*.ts" "bench/**/*.ts"
npx --no-install tsc --noEmit -p tsconfig.json
echo "[strata] jest"
npx --no-install jest "$@"
