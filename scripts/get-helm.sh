#!/usr/bin/env bash
# Prints HELM=<path>: a pinned helm built from the Go module proxy into the user cache once per machine (like
# get-tofu.sh). Only the Helm tests need it, so get-tools.sh does not build it. HELM_VERSION overrides the pin.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"
MODULE="helm.sh/helm/v3"

log() { echo "[get-helm] $*" >&2; }

if [[ -n "${HELM_BIN:-}" && -x "${HELM_BIN}" ]]; then echo "HELM=$HELM_BIN"; exit 0; fi
dest="$CACHE/helm-$HELM_VERSION"
if [[ -x "$dest/helm" ]]; then echo "HELM=$dest/helm"; exit 0; fi
command -v go >/dev/null 2>&1 || { log "no Go toolchain to build helm: install go or set HELM_BIN"; exit 1; }

mkdir -p "$CACHE"
find "$CACHE" -maxdepth 1 -name "helm-$HELM_VERSION.tmp.*" -mmin +120 -exec rm -rf {} + 2>/dev/null || true
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
log "building helm $HELM_VERSION from the Go module proxy (once per machine)"
start=$SECONDS
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=mod"
upstream_mod="$(GOFLAGS='' go mod download -json "$MODULE@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
[[ -f "$upstream_mod" ]] || { log "could not download $MODULE@$HELM_VERSION"; exit 1; }
mkdir "$tmp/src"
{
  echo "module strata.local/helm-build"
  echo
  grep -m1 '^go ' "$upstream_mod"
  echo
  echo "require $MODULE $HELM_VERSION"
  echo
  awk '/^replace[ \t]*\(/ { blk = 1; print; next } blk { print; if ($0 ~ /^\)/) blk = 0; next } /^replace[ \t]/ { print }' "$upstream_mod"
} >"$tmp/src/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/helm"\n' "$MODULE" >"$tmp/src/tools.go"
(cd "$tmp/src" && go mod tidy >&2)
# Helm's Makefile sets its version the same way.
(cd "$tmp/src" && CGO_ENABLED=0 go build -ldflags="-s -w -X $MODULE/internal/version.version=$HELM_VERSION -X $MODULE/internal/version.gitTreeState=clean" -o "$tmp/helm" "$MODULE/cmd/helm" >&2)
rm -f "$tmp/src/tools.go"
elapsed=$((SECONDS - start))
"$tmp/helm" version --short >&2
printf 'version=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' "$HELM_VERSION" "$(go env GOVERSION)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
log "built helm $HELM_VERSION in ${elapsed}s"
if ! mv -T "$tmp" "$dest" 2>/dev/null; then log "$dest appeared meanwhile; using it"; fi
trap - EXIT
echo "HELM=$dest/helm"
