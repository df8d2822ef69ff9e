#!/usr/bin/env bash
# Prints the path of a `schemathesis` executable (the OpenAPI fuzzer `npm run test:fuzz` and the API fuzz test
# drive), installing the pinned PyPI release into a venv under the user cache (outside the work tree, so every
# clone on this machine shares it). $SCHEMATHESIS_BIN wins when a user has their own.
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

log() { echo "[get-schemathesis] $*" >&2; }

if [[ -n "${SCHEMATHESIS_BIN:-}" ]]; then
  if [[ -x "$SCHEMATHESIS_BIN" ]]; then echo "$SCHEMATHESIS_BIN"; exit 0; fi
  log "SCHEMATHESIS_BIN=$SCHEMATHESIS_BIN is not executable; ignoring it"
fi

dest="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"
if [[ -x "$dest/bin/schemathesis" ]]; then echo "$dest/bin/schemathesis"; exit 0; fi

if ! command -v python3 >/dev/null 2>&1; then
  log "python3 is needed to install schemathesis==$SCHEMATHESIS_VERSION (or set SCHEMATHESIS_BIN)"
  exit 1
fi

mkdir -p "$CACHE"
# Drop leftovers of installs that were killed outright (a trap cannot run on SIGKILL).
find "$CACHE" -maxdepth 1 -name "schemathesis-$SCHEMATHESIS_VERSION.tmp.*" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
chmod 755 "$tmp" # mktemp makes it 0700; the cache is meant to be readable like any install
trap 'rm -rf "$tmp"' EXIT

# schemathesis pulls hypothesis, jsonschema_rs and ~25 more with loose ranges; pin the whole set (a `pip freeze`
# of a working install) so two machines generate from the same strategies and report the same checks.
cat >"$tmp/constraints.txt" <<'EOF'
anyio==4.16.0
certifi==2026.10.19.post1
charset-normalizer==3.5.3
click==8.5.1
graphql-core==3.3.2
harfile==0.6.0
hypothesis==6.170.17
hypothesis-graphql==0.13.5
idna==3.20
iniconfig==2.3.1
jsonschema_rs==0.60.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
packaging==26.4
pluggy==1.7.0
Pygments==2.21.0
pyrate-limiter==4.5.1
pytest==9.2.0
PyYAML==6.0.4
requests==2.34.2
rich==15.0.0
schemathesis==4.32.5
sortedcontainers==2.4.0
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
EOF

log "installing schemathesis==$SCHEMATHESIS_VERSION from PyPI into $dest (seconds; once per machine)"
start=$SECONDS
python3 -m venv --prompt "schemathesis-$SCHEMATHESIS_VERSION" "$tmp" >&2
"$tmp/bin/pip" install -q --disable-pip-version-check -c "$tmp/constraints.txt" "schemathesis==$SCHEMATHESIS_VERSION" >&2
elapsed=$((SECONDS - start))

# pip writes the venv's absolute path into every script's shebang (and `activate`). Point them at the
# final location *before* the rename, so the venv becomes usable in the same instant it appears.
grep -rlI --null -F "$tmp" "$tmp/bin" | xargs -0 -r sed -i "s|$tmp|$dest|g"
"$tmp/bin/python" -c 'import schemathesis; print("schemathesis", schemathesis.__version__)' >&2
printf 'version=%s\npython=%s\ninstall_seconds=%s\nbuilt_at=%s\n' \
  "$SCHEMATHESIS_VERSION" "$("$tmp/bin/python" -V 2>&1)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
log "installed schemathesis $SCHEMATHESIS_VERSION in ${elapsed}s"

# rename(2) refuses a non-empty target: if a concurrent run finished first, keep its result and drop ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  log "$dest appeared meanwhile; using it"
fi
echo "$dest/bin/schemathesis"
