#!/usr/bin/env bash
# Prints KUBE_ETCD=<path> and KUBE_APISERVER=<path>: a pinned etcd and kube-apiserver for the Kubernetes tests,
# built from the Go module proxy into the user cache once per machine (like get-tofu.sh), reused afterwards.
# Not part of get-tools.sh's default path: the kube-apiserver build takes minutes on 2 cores, and only the
# Kubernetes tests need it (their setup calls this script). ETCD_VERSION / KUBE_VERSION override the pins.
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

log() { echo "[get-kube] $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain to build etcd and kube-apiserver: install go (or set KUBE_ETCD and KUBE_APISERVER)"
  exit 1
fi
mkdir -p "$CACHE"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=mod"

# build <name> <version> <binary> <go.mod writer> <package> <ldflags>: builds into a sibling temp dir and renames it
# into place, so an interrupted build never looks cached.
build() {
  local name="$1" version="$2" bin="$3" write_mod="$4" pkg="$5" ldflags="$6"
  local dest="$CACHE/$name-$version"
  if [[ -x "$dest/$bin" ]]; then echo "$dest/$bin"; return; fi
  find "$CACHE" -maxdepth 1 -name "$name-$version.tmp.*" -mmin +120 -exec rm -rf {} + 2>/dev/null || true
  local tmp
  tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
  chmod 755 "$tmp"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  log "building $name $version from the Go module proxy (once per machine)"
  local start=$SECONDS
  mkdir "$tmp/src"
  "$write_mod" >"$tmp/src/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$tmp/src/tools.go"
  (cd "$tmp/src" && go mod tidy >&2)
  (cd "$tmp/src" && CGO_ENABLED=0 go build -ldflags="-s -w $ldflags" -o "$tmp/$bin" "$pkg" >&2)
  rm -f "$tmp/src/tools.go" # go.mod/go.sum stay as the record of exactly what was built
  local elapsed=$((SECONDS - start))
  printf 'version=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' \
    "$version" "$(go env GOVERSION)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
  log "built $name $version in ${elapsed}s"
  if ! mv -T "$tmp" "$dest" 2>/dev/null; then log "$dest appeared meanwhile; using it"; fi
  trap - EXIT
  echo "$dest/$bin"
}

etcd_mod() {
  printf 'module strata.local/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION"
}

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging/src/...; a scratch main
# module pins each of them to the published v0.<minor>.<patch> that matches the release instead.
kube_mod() {
  local upstream staging
  upstream="$(GOFLAGS='' go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [[ -f "$upstream" ]] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
  staging="v0.${KUBE_VERSION#v1.}"
  echo "module strata.local/kube-apiserver-build"
  echo
  grep -m1 '^go ' "$upstream"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  grep -oE 'k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$upstream" | awk -v v="$staging" '{ print "replace " $1 " => " $1 " " v }'
}

KV="k8s.io/component-base/version"
minor="${KUBE_VERSION#v1.}"
minor="${minor%%.*}"
kube_ldflags="-X $KV.gitVersion=$KUBE_VERSION -X $KV.gitMajor=1 -X $KV.gitMinor=$minor -X $KV.gitTreeState=clean -X $KV.buildDate=1970-01-01T00:00:00Z"

case "${1:-all}" in
  etcd) echo "KUBE_ETCD=${KUBE_ETCD:-$(build etcd "$ETCD_VERSION" etcd etcd_mod go.etcd.io/etcd/server/v3 '')}" ;;
  kube-apiserver) echo "KUBE_APISERVER=${KUBE_APISERVER:-$(build kube-apiserver "$KUBE_VERSION" kube-apiserver kube_mod k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags")}" ;;
  all)
    echo "KUBE_ETCD=${KUBE_ETCD:-$(build etcd "$ETCD_VERSION" etcd etcd_mod go.etcd.io/etcd/server/v3 '')}"
    echo "KUBE_APISERVER=${KUBE_APISERVER:-$(build kube-apiserver "$KUBE_VERSION" kube-apiserver kube_mod k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags")}"
    ;;
  *) log "usage: get-kube.sh [etcd|kube-apiserver|all]"; exit 2 ;;
esac
