#!/usr/bin/env bash
# Prints the path of a `moto_server` executable (the AWS emulator the tests and `npm start` talk to),
# installing the pinned PyPI release into a venv under the user cache (outside the work tree, so every
# clone on this machine shares it). $MOTO_SERVER_BIN wins when a user has their own.
set -euo pipefail

MOTO_VERSION="5.2.5"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

log() { echo "[get-moto] $*" >&2; }

if [[ -n "${MOTO_SERVER_BIN:-}" ]]; then
  if [[ -x "$MOTO_SERVER_BIN" ]]; then echo "$MOTO_SERVER_BIN"; exit 0; fi
  log "MOTO_SERVER_BIN=$MOTO_SERVER_BIN is not executable; ignoring it"
fi

dest="$CACHE/moto-$MOTO_VERSION"
if [[ -x "$dest/bin/moto_server" ]]; then echo "$dest/bin/moto_server"; exit 0; fi

if ! command -v python3 >/dev/null 2>&1; then
  log "python3 is needed to install moto[server]==$MOTO_VERSION (or set MOTO_SERVER_BIN)"
  exit 1
fi

mkdir -p "$CACHE"
# Drop leftovers of builds that were killed outright (a trap cannot run on SIGKILL).
find "$CACHE" -maxdepth 1 -name "moto-$MOTO_VERSION.tmp.*" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
chmod 755 "$tmp" # mktemp makes it 0700; the cache is meant to be readable like any install
trap 'rm -rf "$tmp"' EXIT

# moto[server] pulls ~60 packages with loose ranges; pin the whole set (a `pip freeze` of a working
# install) so two machines never get different flask/werkzeug/botocore behaviour.
cat >"$tmp/constraints.txt" <<'EOF'
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
attrs==26.1.0
aws-xray-sdk==2.15.0
blinker==1.9.0
boto3==1.44.5
botocore==1.44.5
certifi==2026.10.18
cffi==2.1.1
cfn-lint==1.58.0
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
docker==7.2.0
Flask==3.1.3
flask-cors==6.0.5
graphql-core==3.3.2
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jsonpatch==1.47
jsonpath-ng==1.16.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.5.0
jsonschema-specifications==2025.9.1
lazy-object-proxy==1.13.0
MarkupSafe==3.0.4
moto==5.2.5
mpmath==1.3.0
networkx==3.6.1
openapi-schema-validator==0.9.0
openapi-spec-validator==0.9.0
pathable==0.6.0
py-partiql-parser==0.6.3
pycparser==3.12
pydantic==2.14.3
pydantic-settings==2.16.3
pydantic_core==2.50.4
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.3
referencing==0.37.0
regex==2026.11.15
requests==2.34.2
responses==0.26.3
rfc3339-validator==0.1.4
rpds-py==2026.9.1
s3transfer==0.19.3
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
xmltodict==1.0.4
EOF

log "installing moto[server]==$MOTO_VERSION from PyPI into $dest (about a minute; once per machine)"
start=$SECONDS
python3 -m venv --prompt "moto-$MOTO_VERSION" "$tmp" >&2
"$tmp/bin/pip" install -q --disable-pip-version-check -c "$tmp/constraints.txt" "moto[server]==$MOTO_VERSION" >&2
elapsed=$((SECONDS - start))

# pip writes the venv's absolute path into every script's shebang (and `activate`). Point them at the
# final location *before* the rename, so the venv becomes usable in the same instant it appears.
grep -rlI --null -F "$tmp" "$tmp/bin" | xargs -0 -r sed -i "s|$tmp|$dest|g"
"$tmp/bin/python" -c 'import moto, flask; print("moto", moto.__version__)' >&2
printf 'version=%s\npython=%s\ninstall_seconds=%s\nbuilt_at=%s\n' \
  "$MOTO_VERSION" "$("$tmp/bin/python" -V 2>&1)" "$elapsed" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/BUILD_INFO"
log "installed moto $MOTO_VERSION in ${elapsed}s"

# rename(2) refuses a non-empty target: if a concurrent run finished first, keep its result and drop ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  log "$dest appeared meanwhile; using it"
fi
echo "$dest/bin/moto_server"
