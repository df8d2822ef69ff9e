#!/usr/bin/env bash
# `npm start`: bootstraps what is missing (npm deps, the pinned temporal/tofu/providers), then runs the Temporal
# dev server (unless one already answers), the worker and the API with the example stacks. Ctrl-C or SIGTERM
# stops everything this script started, within 15 s, leaving no orphans.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

bash scripts/ensure-deps.sh
bash scripts/get-tools.sh >/dev/null
# shellcheck disable=SC1090
set -a; source "${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}/tools.env"; set +a

ADDRESS="${TEMPORAL_ADDRESS:-$(node -e "console.log(require('yaml').parse(require('fs').readFileSync(process.env.STRATA_CONFIG||'strata.yaml','utf8'))?.temporal?.address||'127.0.0.1:7233')")}"
export TEMPORAL_ADDRESS="$ADDRESS"
API_HOST="${HOST:-127.0.0.1}"
API_PORT="${PORT:-8080}"
UI_PORT="${TEMPORAL_UI_PORT:-8233}"
# STRATA_DATA_DIR moves what this script and the processes it starts keep on disk (logs, the dev server's
# SQLite file, and the state/work/artifacts directories unless STRATA_*_DIR say otherwise) out of the
# repository's .data, so a second instance (or the e2e test) never touches the one a user runs. Files a
# stack itself writes (hello-local's strata_data_dir) are the stack's business.
if [[ -n "${STRATA_DATA_DIR:-}" ]]; then
  mkdir -p "$STRATA_DATA_DIR"
  DATA_DIR="$(cd "$STRATA_DATA_DIR" && pwd)"
  export STRATA_DATA_DIR="$DATA_DIR"
  export TEMPORAL_DB_FILE="${TEMPORAL_DB_FILE:-$DATA_DIR/temporal.sqlite}"
  export STRATA_STATE_DIR="${STRATA_STATE_DIR:-$DATA_DIR/state}"
  export STRATA_WORK_DIR="${STRATA_WORK_DIR:-$DATA_DIR/work}"
  export STRATA_ARTIFACTS_DIR="${STRATA_ARTIFACTS_DIR:-$DATA_DIR/artifacts}"
else
  DATA_DIR="$ROOT/.data"
fi
LOGS="$DATA_DIR/logs"
mkdir -p "$LOGS"

pids=()                 # in start order; stopped in reverse
declare -A pid_of cmd_of restarts
names=()
start_group() { # name, command... — each child leads its own process group so the whole tree can be stopped
  local name=$1; shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 &
  local pid=$!
  if [[ -z "${pid_of[$name]:-}" ]]; then names+=("$name"); fi
  pid_of[$name]=$pid
  cmd_of[$name]="$*"
  pids+=("$pid")
  echo "[strata] started $name (pid $pid, log $LOGS/$name.log)"
}

stopping=0
stop_all() {
  [[ $stopping == 1 ]] && return
  stopping=1
  echo; echo "[strata] stopping..."
  # API and worker first (the worker lets in-flight activities finish or cancels them), the server last.
  for ((i=${#names[@]}-1; i>=0; i--)); do kill -TERM -- "-${pid_of[${names[i]}]}" 2>/dev/null || true; done
  local deadline=$((SECONDS + 12))
  while ((SECONDS < deadline)); do
    local alive=0
    for n in "${names[@]}"; do kill -0 -- "-${pid_of[$n]}" 2>/dev/null && alive=1; done
    ((alive == 0)) && break
    sleep 0.2
  done
  for n in "${names[@]}"; do kill -KILL -- "-${pid_of[$n]}" 2>/dev/null || true; done
  echo "[strata] stopped"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

host="${ADDRESS%:*}"; port="${ADDRESS##*:}"
reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if reachable "$host" "$port"; then
  echo "[strata] reusing the Temporal server at $ADDRESS"
else
  start_group temporal env TEMPORAL_ADDRESS="$ADDRESS" TEMPORAL_UI_PORT="$UI_PORT" bash temporal/dev-server.sh
  for _ in $(seq 1 150); do reachable "$host" "$port" && break; sleep 0.2; done
  reachable "$host" "$port" || { echo "[strata] Temporal did not come up; see $LOGS/temporal.log" >&2; exit 1; }
fi

TSX="$ROOT/node_modules/.bin/tsx"
start_group worker "$TSX" src/worker/main.ts
start_group api "$TSX" src/api/server.ts

for _ in $(seq 1 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$API_HOST:$API_PORT/ready" || true)
  [[ $code == 200 ]] && break
  for n in "${names[@]}"; do kill -0 "${pid_of[$n]}" 2>/dev/null || { echo "[strata] $n exited during start-up; see $LOGS/$n.log" >&2; tail -n 20 "$LOGS/$n.log" >&2; exit 1; }; done
  sleep 0.2
done

cat <<MSG

  Strata is running.
    API          http://$API_HOST:$API_PORT   (OpenAPI: /openapi.json, readiness: /ready)
    Temporal UI  http://$host:$UI_PORT
    Temporal     $ADDRESS  (temporal workflow list --address $ADDRESS)

  Demo tokens (bound to 127.0.0.1 only):
    alice-deployer-dev-token   alice  deployer, viewer
    bob-approver-dev-token     bob    approver, viewer
    carol-admin-dev-token      carol  admin

  Try:
    curl -s -H 'Authorization: Bearer alice-deployer-dev-token' http://$API_HOST:$API_PORT/api/v1/stacks
    curl -s -XPOST -H 'Authorization: Bearer alice-deployer-dev-token' -H 'Content-Type: application/json' \\
      -d '{"stack":"hello-local","environment":"dev"}' http://$API_HOST:$API_PORT/api/v1/deployments

  Logs in $LOGS/. Ctrl-C stops everything.
MSG

# Stay in the foreground as a small supervisor: a process that dies on its own (a crash, a kill -9) is
# restarted after a pause, so the API keeps answering (/ready says 503 meanwhile) and runs resume from
# Temporal's history. A process that keeps dying is given up on.
declare -A died_at
while :; do
  for n in "${names[@]}"; do
    if ! kill -0 "${pid_of[$n]}" 2>/dev/null; then
      now=$SECONDS
      if [[ -z "${died_at[$n]:-}" ]]; then
        died_at[$n]=$now
        echo "[strata] $n exited; restarting it in 5 s (log $LOGS/$n.log)" >&2
      elif (( now - ${died_at[$n]} >= 5 )); then
        restarts[$n]=$(( ${restarts[$n]:-0} + 1 ))
        if (( ${restarts[$n]} > 5 )); then echo "[strata] $n keeps exiting; giving up" >&2; exit 1; fi
        unset "died_at[$n]"
        # shellcheck disable=SC2086
        start_group "$n" ${cmd_of[$n]}
      fi
    fi
  done
  sleep 1 & wait $! || true
done
