#!/usr/bin/env bash
# Builds the Terraform providers the project needs (hashicorp/local, null, random, time) from the Go
# module proxy into a filesystem mirror under the user cache, writes a CLI config that installs
# providers from that mirror only, and prints the config's path (use it as TF_CLI_CONFIG_FILE).
# Registry downloads (registry.opentofu.org / registry.terraform.io) are unreachable here, so `init`
# must never need the network; the config's `direct` block excludes both registries to guarantee it.
set -euo pipefail

# Pins. Each line: <type> <release version> <Go module> <Go version that is exactly that release>.
# local/null/random tag v2/v3 releases but declare an unsuffixed module path, so the Go proxy only has
# them as pseudo-versions of the release commit; the version in the mirror is the release's own number.
#   local  2.9.0  = tag v2.9.0  (release commit 3561e410f9fe, 2026-05-13; version/VERSION says 2.9.0)
#   random 3.9.0  = tag v3.9.0  (release commit f8d869dc98d9, 2026-05-13; version/VERSION says 3.9.0)
#   time   0.14.2 = tag v0.14.2 (v0.x, so the proxy serves the tag itself)
#   null   2.1.2  = tag v2.1.2  (release commit 8d3d85a60e20, 2019-04-30; CHANGELOG heads with 2.1.2).
#                   The module proxy reachable here lists no null 3.x commit at all, so this is the newest
#                   null release it serves. It is built on the Terraform 0.12 SDK (plugin protocol 5),
#                   which OpenTofu and Terraform 1.x still speak; `null_resource` has the same schema
#                   (`id`, `triggers`) as in 3.x. Move to 3.x once a pseudo-version of a 3.x tag is served.
PROVIDERS="
local  2.9.0  github.com/terraform-providers/terraform-provider-local   v1.4.1-0.20260513075820-3561e410f9fe
random 3.9.0  github.com/terraform-providers/terraform-provider-random  v1.3.2-0.20260513075824-f8d869dc98d9
time   0.14.2 github.com/hashicorp/terraform-provider-time              v0.14.2
null   2.1.2  github.com/terraform-providers/terraform-provider-null    v1.0.1-0.20190430203517-8d3d85a60e20
"
# null 2.1.2 needs 2019-era dependencies (Terraform 0.12 itself, old gRPC); sharing one module with the
# 2026 providers would let Go's version selection upgrade those under it, so it gets its own module.
SEPARATE_MODULE="null"

CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"
log() { echo "[get-providers] $*" >&2; }

# Terraform's platform name (Go's GOOS_GOARCH), from uname so the cached path needs no Go toolchain.
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch="$(uname -m)" ;;
esac
platform="$(uname -s | tr '[:upper:]' '[:lower:]')_$arch"

# The cache directory is named after a hash of the pins, so changing any pin builds a fresh mirror
# instead of mixing versions, and the tofurc path changes with it. Bump BUILD_REV whenever the way the
# mirror is built changes (flags, layout, config), so old caches are not mistaken for new ones.
BUILD_REV=2
pinset="$(printf '%s\n%s\nrev=%s\n' "$PROVIDERS" "$platform" "$BUILD_REV" | sha256sum | cut -c1-12)"
dest="$CACHE/tf-providers-$pinset"
if [[ -f "$dest/tofurc" ]]; then echo "$dest/tofurc"; exit 0; fi

command -v go >/dev/null 2>&1 || { log "Go is needed to build the providers"; exit 1; }
if [[ "$(go env GOOS)_$(go env GOARCH)" != "$platform" ]]; then
  log "go builds for $(go env GOOS)_$(go env GOARCH), not this machine's $platform"; exit 1
fi

mkdir -p "$CACHE"
# Drop leftovers of builds that were killed outright (a trap cannot run on SIGKILL).
find "$CACHE" -maxdepth 1 -name "tf-providers-*.tmp.*" -mmin +120 -exec rm -rf {} + 2>/dev/null || true
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
chmod 755 "$tmp" # mktemp makes it 0700; the cache is meant to be readable like any install
trap 'rm -rf "$tmp"' EXIT

# Static, path-trimmed binaries like the providers' own release builds; -mod=mod lets the scratch
# modules record their go.sum as they resolve.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=mod"
start=$SECONDS

# Writes a scratch module in $1 that requires the given "module version" pairs and imports each
# module's main package, so `go mod tidy` records one consistent dependency graph for all of them.
scratch_module() {
  local dir="$1"; shift
  mkdir -p "$dir"
  { echo "module strata.local/tf-providers"; echo; echo "go 1.26.8"; echo; echo "require ("
    while (($#)); do echo "	$1 $2"; shift 2; done
    echo ")"; } >"$dir/go.mod"
  { echo "//go:build tools"; echo; echo "package tools"; echo; echo "import ("
    awk '/^\t/ {print "\t_ \"" $1 "\""}' "$dir/go.mod"
    echo ")"; } >"$dir/tools.go"
  (cd "$dir" && go mod tidy >&2)
}

# Refuses a pin whose source does not announce the release it is named after: a mislabelled pin
# would otherwise sit in the mirror under the wrong version number.
check_release() {
  local dir="$1" module="$2" version="$3" src announced
  src="$(cd "$dir" && go list -m -f '{{.Dir}}' "$module")"
  if [[ -f "$src/version/VERSION" ]]; then
    announced="$(tr -d '[:space:]' <"$src/version/VERSION")"
  else
    announced="$(grep -m1 -oE '^## [0-9]+\.[0-9]+\.[0-9]+' "$src/CHANGELOG.md" | cut -c4-)"
  fi
  if [[ "$announced" != "$version" ]]; then
    log "$module pinned as $version, but its source says $announced"; exit 1
  fi
}

build_group() {
  local dir="$1"; shift
  local -a reqs=() specs=("$@")
  local spec name version module gover
  for spec in "${specs[@]}"; do read -r name version module gover <<<"$spec"; reqs+=("$module" "$gover"); done
  scratch_module "$dir" "${reqs[@]}"
  for spec in "${specs[@]}"; do
    read -r name version module gover <<<"$spec"
    check_release "$dir" "$module" "$version"
    local out="$tmp/mirror/registry.opentofu.org/hashicorp/$name/$version/$platform"
    mkdir -p "$out"
    local t=$SECONDS
    log "building $name $version ($module@$gover)"
    # -s -w as in the providers' release builds: the mirror is for running them, not debugging them.
    (cd "$dir" && go build -ldflags="-s -w" -o "$out/terraform-provider-${name}_v${version}" "$module")
    log "built $name $version in $((SECONDS - t))s"
    echo "$name=$version module=$module@$gover build_seconds=$((SECONDS - t))" >>"$tmp/BUILD_INFO"
  done
}

shared=() separate=()
while read -r name version module gover; do
  [[ -n "$name" ]] || continue
  if [[ " $SEPARATE_MODULE " == *" $name "* ]]; then separate+=("$name $version $module $gover")
  else shared+=("$name $version $module $gover"); fi
done <<<"$PROVIDERS"

log "building ${#shared[@]}+${#separate[@]} providers from the Go module proxy (several minutes on 2 cores; once per machine)"
build_group "$tmp/src/shared" "${shared[@]}"
((${#separate[@]})) && build_group "$tmp/src/separate" "${separate[@]}"
# The scratch modules' go.mod/go.sum stay in the cache as a record of exactly what was built.
rm -f "$tmp"/src/*/tools.go

# Terraform looks providers up under registry.terraform.io, OpenTofu under registry.opentofu.org.
# Hard links give Terraform the same files at no extra space while staying plain files, so neither
# tool's mirror scanner has to follow symlinks.
(cd "$tmp/mirror" && find registry.opentofu.org -type d | sed 's|^registry.opentofu.org|registry.terraform.io|' | xargs mkdir -p)
(cd "$tmp/mirror/registry.opentofu.org" && find . -type f -exec ln {} ../registry.terraform.io/{} \;)

# Paths in the config must be final, so they name $dest, which appears atomically below.
cat >"$tmp/tofurc" <<EOF
# Generated by scripts/get-providers.sh: install hashicorp/{local,null,random,time} from the local
# mirror only. The direct block refuses both public registries so init fails fast instead of
# reaching for the network when a configuration asks for anything else.
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$dest/mirror"
    include = ["registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.opentofu.org/*/*", "registry.terraform.io/*/*"]
  }
}
EOF
printf '%s\n' "$PROVIDERS" | sed '/^$/d' >"$tmp/PINS"
elapsed=$((SECONDS - start))
echo "total_build_seconds=$elapsed go=$(go env GOVERSION) built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$tmp/BUILD_INFO"
log "built the provider mirror in ${elapsed}s"

# rename(2) refuses a non-empty target: if a concurrent run finished first, keep its result and drop ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  log "$dest appeared meanwhile; using it"
fi
echo "$dest/tofurc"
