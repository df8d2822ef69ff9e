#!/usr/bin/env bash
# Runs the Temporal dev server for Strata in the foreground: SQLite file under .data/ (or $STRATA_DATA_DIR;
# TEMPORAL_DB_FILE wins) so history survives restarts, Web UI on :8233, Strata's search attributes
# registered. If a server already answers at the address, it is reused and this script exits 0 without
# starting a second one.
set -euo pipefail
cd "$(dirname "$0")/.."

ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
# The API's address (HOST/PORT, as the API reads them), before HOST/PORT below take the frontend's.
API_URL="http://${HOST:-127.0.0.1}:${PORT:-8080}"
HOST="${ADDRESS%:*}"
PORT="${ADDRESS##*:}"
UI_PORT="${TEMPORAL_UI_PORT:-8233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
DB_FILE="${TEMPORAL_DB_FILE:-${STRATA_DATA_DIR:-.data}/temporal.sqlite}"
# The Web UI asks Strata's codec server to decrypt payloads (strata.yaml `codec`); empty to switch it off.
CODEC_ENDPOINT="${STRATA_CODEC_ENDPOINT-$API_URL/codec}"

reachable() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if reachable; then
  echo "[dev-server] a Temporal server already answers at $ADDRESS: reusing it" >&2
  exit 0
fi

TEMPORAL="$(bash temporal/get-temporal.sh)"
mkdir -p "$(dirname "$DB_FILE")"
attrs=()
while read -r name; do attrs+=(--search-attribute "$name=Keyword"); done < temporal/search-attributes.txt

exec "$TEMPORAL" server start-dev \
  --ip "$HOST" --port "$PORT" --ui-port "$UI_PORT" \
  --db-filename "$DB_FILE" --namespace "$NAMESPACE" \
  --log-level error \
  "${attrs[@]}" \
  ${CODEC_ENDPOINT:+--ui-codec-endpoint "$CODEC_ENDPOINT"} \
  --dynamic-config-value frontend.enableUpdateWorkflowExecution=true \
  --dynamic-config-value frontend.workerVersioningDataAPIs=true
