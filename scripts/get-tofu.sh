#!/usr/bin/env bash
# Prints the path of an OpenTofu binary, building one from the Go module proxy if needed.
# Order: $TOFU_BIN, then the pinned build in the user cache (outside the work tree, so every clone on
# this machine shares it), then `go install` into that cache.
# A `terraform` or `tofu` on PATH is deliberately NOT picked up: the app honours $TERRAFORM_BIN itself,
# and silently using whatever happens to be installed would make runs differ between machines.
set -euo pipefail

# v1.6.3 is the newest OpenTofu release whose go.mod has no `replace` directive, so a plain
# `go install mod@version` builds it; v1.7+ would need a scratch module carrying the hcl replace.
TOFU_VERSION="v1.6.3"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

log() { echo "[get-tofu] $*" >&2; }

if [[ -n "${TOFU_BIN:-}" ]]; then
  if [[ -x "$TOFU_BIN" ]]; then echo "$TOFU_BIN"; exit 0; fi
  log "TOFU_BIN=$TOFU_BIN is not executable; ignoring it"
fi

dest="$CACHE/tofu-$TOFU_VERSION"
if [[ -x "$dest/tofu" ]]; then echo "$dest/tofu"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain to build OpenTofu $TOFU_VERSION: install go, or set TOFU_BIN (or TERRAFORM_BIN for the app)"
  exit 1
fi

mkdir -p "$CACHE"
# Drop leftovers of builds that were killed outright (a trap cannot run on SIGKILL).
find "$CACHE" -maxdepth 1 -name "tofu-$TOFU_VERSION.tmp.*" -mmin +120 -exec rm -rf {} + 2>/dev/null || true
# Build into a sibling temp dir and rename it into place, so an interrupted build never looks cached.
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
chmod 755 "$tmp" # mktemp makes it 0700; the cache is meant to be readable like any install
trap 'rm -rf "$tmp"' EXIT

log "building OpenTofu $TOFU_VERSION with go install (several minutes on 2 cores; once per machine)"
start=$SECONDS
# The same flags as OpenTofu's own release build (.goreleaser.yaml): static, paths trimmed, and
# version.dev=no so it reports "1.6.3" rather than "1.6.3-dev". Keep whatever GOFLAGS the user has.
CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" \
  go install -ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no" \
  "github.com/opentofu/opentofu/cmd/tofu@$TOFU_VERSION" >&2
elapsed=$((SECONDS - start))
"$tmp/tofu" version >&2
printf 'version=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' \
  "$TOFU_VERSION" "$(go env GOVERSION)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
log "built OpenTofu $TOFU_VERSION in ${elapsed}s"

# rename(2) refuses a non-empty target: if a concurrent run finished first, keep its result and drop ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  log "$dest appeared meanwhile; using it"
fi
echo "$dest/tofu"
