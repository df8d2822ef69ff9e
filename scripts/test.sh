#!/usr/bin/env bash
# `npm test`: installs what is missing (idempotent), lints (determinism and layer rules, formatting, types), then
# runs jest.
# Every service a test needs (Temporal dev server, moto) is started by the tests on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/get-tools.sh >/dev/null
# The Kubernetes and Helm tests' binaries, built here on a machine's first run (~6 min for etcd and
# kube-apiserver, ~3 min for helm) rather than inside a test's start-up hook, whose timeout that would exceed.
bash scripts/get-kube.sh >/dev/null
bash scripts/get-helm.sh >/dev/null
echo "[strata] lint"
npx --no-install eslint --max-warnings=0 .
npx --no-install prettier --check --log-level warn "src/**/*.ts" "test/**/*.ts" "scripts/**/*.ts" "bench/**/*.ts"
npx --no-install tsc --noEmit -p tsconfig.json
echo "[strata] jest"
npx --no-install jest "$@"
