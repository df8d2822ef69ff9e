#!/usr/bin/env bash
# `npm run temporal -- <temporal args>`: the pinned temporal CLI, pointed at the server and namespace strata.yaml
# names (STRATA_CONFIG elsewhere; TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE win, as they do for Strata itself). Payloads
# are encrypted, so when the config has codec keys the CLI decodes through the API's codec server
# (STRATA_API, default the config's api.host:port) with STRATA_TOKEN; TEMPORAL_CODEC_* set by the caller win.
# The binary: TEMPORAL_CLI, else ~/.cache/strata/tools.env (scripts/get-tools.sh), else `temporal` on PATH, else
# obtained now by temporal/get-temporal.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

bin="${TEMPORAL_CLI:-}"
if [[ -z "$bin" && -f "$CACHE/tools.env" ]]; then
  bin="$(sed -n 's/^TEMPORAL_CLI=//p' "$CACHE/tools.env" | tail -n 1)"
fi
if [[ -z "$bin" || ! -x "$bin" ]]; then
  bin="$(command -v temporal || true)"
fi
if [[ -z "$bin" ]]; then
  bin="$(cd "$ROOT" && bash temporal/get-temporal.sh)"
fi

config="${STRATA_CONFIG:-$ROOT/strata.yaml}"
# One line per setting, read with the same YAML parser Strata uses; an unreadable file leaves the CLI's defaults.
settings="$(NODE_PATH="$ROOT/node_modules" node -e '
  const fs = require("fs");
  let c = {};
  try { c = require("yaml").parse(fs.readFileSync(process.argv[1], "utf8")) || {}; } catch (e) { console.error(`[temporal] cannot read ${process.argv[1]}: ${e.message}`); }
  const t = c.temporal || {}, a = c.api || {};
  const keys = ((c.codec || {}).keys || []).length;
  console.log(t.address || "127.0.0.1:7233");
  console.log(t.namespace || "default");
  console.log(`http://${process.env.HOST || a.host || "127.0.0.1"}:${process.env.PORT || a.port || 8080}`);
  console.log(keys ? "codec" : "plain");
' "$config")"
{ read -r address; read -r namespace; read -r api; read -r payloads; } <<<"$settings"

export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-$address}"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-$namespace}"
if [[ "$payloads" == codec && -z "${TEMPORAL_CODEC_ENDPOINT:-}" ]]; then
  export TEMPORAL_CODEC_ENDPOINT="${STRATA_API:-$api}/codec"
  if [[ -n "${STRATA_TOKEN:-}" && -z "${TEMPORAL_CODEC_AUTH:-}" ]]; then export TEMPORAL_CODEC_AUTH="Bearer $STRATA_TOKEN"; fi
fi
exec "$bin" "$@"
