#!/usr/bin/env bash
# Prints the path of an OpenTofu binary, building one from the Go module proxy if needed.
# Order: $TOFU_BIN, then the pinned build in the user cache (outside the work tree, so every clone on
# this machine shares it), then a build into that cache.
# A `terraform` or `tofu` on PATH is deliberately NOT picked up: the app honours $TERRAFORM_BIN itself,
# and silently using whatever happens to be installed would make runs differ between machines.
set -euo pipefail

# OpenTofu >= 1.7 needs the scratch-module build below (go install refuses its replace directive); the
# whole suite passes on v1.12.6 and on v1.6.3 (TOFU_VERSION overrides the pin).
TOFU_VERSION="${TOFU_VERSION:-v1.12.6}"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"
MODULE="github.com/opentofu/opentofu"

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

log "building OpenTofu $TOFU_VERSION from the Go module proxy (several minutes on 2 cores; once per machine)"
start=$SECONDS
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=mod"

# OpenTofu >= 1.7 carries `replace github.com/hashicorp/hcl/v2 => github.com/opentofu/hcl/v2 ...` (and
# `godebug` settings) in its go.mod. Go honours those only in the main module, so `go install mod@ver`
# refuses to build it. A scratch main module that requires OpenTofu and repeats its go line, replace
# and godebug directives verbatim builds exactly what upstream builds.
upstream_mod="$(GOFLAGS='' go mod download -json "$MODULE@$TOFU_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
[[ -f "$upstream_mod" ]] || { log "could not download $MODULE@$TOFU_VERSION"; exit 1; }
mkdir "$tmp/src"
{
  echo "module strata.local/tofu-build"
  echo
  grep -m1 '^go ' "$upstream_mod"
  echo
  echo "require $MODULE $TOFU_VERSION"
  echo
  # Copy single-line and parenthesised `replace`/`godebug` directives as they are.
  awk '/^(replace|godebug)[ \t]*\(/ { blk = 1; print; next }
       blk { print; if ($0 ~ /^\)/) blk = 0; next }
       /^(replace|godebug)[ \t]/ { print }' "$upstream_mod"
} >"$tmp/src/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/tofu"\n' "$MODULE" >"$tmp/src/tools.go"
(cd "$tmp/src" && go mod tidy >&2)

# The same flags as OpenTofu's own release build (.goreleaser.yaml): static, paths trimmed, and
# version.dev=no so it reports e.g. "1.12.6" rather than "1.12.6-dev".
(cd "$tmp/src" && CGO_ENABLED=0 go build -ldflags="-s -w -X $MODULE/version.dev=no" -o "$tmp/tofu" "$MODULE/cmd/tofu" >&2)
rm -f "$tmp/src/tools.go" # go.mod/go.sum stay as the record of exactly what was built
elapsed=$((SECONDS - start))
# The caller's TF_CLI_CONFIG_FILE may name a file that does not exist yet; it is irrelevant here.
env -u TF_CLI_CONFIG_FILE "$tmp/tofu" version >&2
printf 'version=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' \
  "$TOFU_VERSION" "$(go env GOVERSION)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
log "built OpenTofu $TOFU_VERSION in ${elapsed}s"

# rename(2) refuses a non-empty target: if a concurrent run finished first, keep its result and drop ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  log "$dest appeared meanwhile; using it"
fi
echo "$dest/tofu"
