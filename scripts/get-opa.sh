#!/usr/bin/env bash
# Prints the path of an Open Policy Agent binary, building one from the Go module proxy if needed.
# Order: $OPA_BIN, then the pinned build in the user cache (outside the work tree, so every clone on this
# machine shares it), then a build into that cache. An `opa` on PATH is deliberately not picked up: policy
# results must not differ between machines because of whatever happens to be installed.
set -euo pipefail

# OPA's go.mod has no replace directives, so a plain `go install module@version` builds exactly the release.
OPA_VERSION="${OPA_VERSION:-v1.22.4}"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"
MODULE="github.com/open-policy-agent/opa"

log() { echo "[get-opa] $*" >&2; }

if [[ -n "${OPA_BIN:-}" ]]; then
  if [[ -x "$OPA_BIN" ]]; then echo "$OPA_BIN"; exit 0; fi
  log "OPA_BIN=$OPA_BIN is not executable; ignoring it"
fi

dest="$CACHE/opa-$OPA_VERSION"
if [[ -x "$dest/opa" ]]; then echo "$dest/opa"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain to build OPA $OPA_VERSION: install go, or set OPA_BIN"
  exit 1
fi

mkdir -p "$CACHE"
# Drop leftovers of builds that were killed outright (a trap cannot run on SIGKILL).
find "$CACHE" -maxdepth 1 -name "opa-$OPA_VERSION.tmp.*" -mmin +120 -exec rm -rf {} + 2>/dev/null || true
# Build into a sibling temp dir and rename it into place, so an interrupted build never looks cached.
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

log "building OPA $OPA_VERSION from the Go module proxy (a few minutes on 2 cores; once per machine)"
start=$SECONDS
# Static and path-trimmed like OPA's own release build; the version is compiled into the module itself.
CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" go install -ldflags="-s -w" "$MODULE@$OPA_VERSION" >&2
elapsed=$((SECONDS - start))
"$tmp/opa" version >&2
printf 'version=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' \
  "$OPA_VERSION" "$(go env GOVERSION)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
log "built OPA $OPA_VERSION in ${elapsed}s"

# rename(2) refuses a non-empty target: if a concurrent run finished first, keep its result and drop ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  log "$dest appeared meanwhile; using it"
fi
echo "$dest/opa"
