#!/usr/bin/env bash
# `npm start`: bootstraps what is missing (npm deps, the pinned temporal/OPA/tofu/providers), then runs the
# Temporal dev server (unless one already answers), the worker and the API with the example stacks. Ctrl-C or
# SIGTERM stops everything this script started, within 15 s, leaving no orphans.
#
# Only the npm dependencies and the Temporal CLI are needed to serve: on a fresh machine the rest (OPA, OpenTofu
# and its providers, moto: minutes of Go builds) is built in the background while everything runs, with its
# progress on the terminal and its log in the logs dir; runs that need a tool still being built wait for it
# (src/shared/tools.ts). CI (CI=true) or STRATA_TOOLS_FOREGROUND=1 builds everything first, as `npm test` does.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="${STRATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata}"

bash scripts/ensure-deps.sh
tools_background=1
if [[ "${CI:-}" == true || "${STRATA_TOOLS_FOREGROUND:-}" == 1 ]]; then
  tools_background=0
  bash scripts/get-tools.sh >/dev/null
else
  # The dev server needs the CLI now; get-tools.sh finds it cached when it runs in the background below.
  bash temporal/get-temporal.sh >/dev/null
fi

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

# The tools build (get-tools.sh, in its own process group like the services, but not restarted: it ends). Once
# everything is cached it finishes within a second, and the start goes on exactly as with a foreground build.
tools_pid=""
tools_t0=$SECONDS
if [[ $tools_background == 1 ]]; then
  setsid bash scripts/get-tools.sh >>"$LOGS/tools.log" 2>&1 </dev/null &
  tools_pid=$!
  for _ in $(seq 1 20); do kill -0 "$tools_pid" 2>/dev/null || break; sleep 0.1; done
fi
tools_last_report=0
tools_last_step=""
# Reports the background build: a line when it moves to another tool, every 20 s meanwhile, and one when it ends.
report_tools() {
  [[ -z "$tools_pid" ]] && return
  if ! kill -0 "$tools_pid" 2>/dev/null; then
    local code=0
    wait "$tools_pid" 2>/dev/null || code=$?
    tools_pid=""
    if ((code == 0)); then
      ((SECONDS - tools_t0 > 2)) && echo "[strata] tools ready: OPA, OpenTofu and its providers, moto (built in the background in $((SECONDS - tools_t0)) s; log $LOGS/tools.log)"
    else
      echo "[strata] building the tools failed (exit $code); runs that need them fail until it succeeds (bash scripts/get-tools.sh); see $LOGS/tools.log" >&2
    fi
    return 0
  fi
  local status step label since now_ms
  status="$(cat "$CACHE/tools-build.json" 2>/dev/null || true)"
  step="$(sed -n 's/.*"step":\([0-9]*\),"steps":\([0-9]*\).*/\1\/\2/p' <<<"$status")"
  label="$(sed -n 's/.*"label":"\([^"]*\)".*/\1/p' <<<"$status")"
  since="$(sed -n 's/.*"stepStartedAt":\([0-9]*\).*/\1/p' <<<"$status")"
  [[ -z "$step" || -z "$label" ]] && return 0
  if [[ "$step" != "$tools_last_step" ]] || ((SECONDS - tools_last_report >= 20)); then
    now_ms=$(date +%s%3N)
    echo "[strata] building $label in the background (step $step, $(((now_ms - ${since:-$now_ms}) / 1000)) s)…"
    tools_last_step=$step
    tools_last_report=$SECONDS
  fi
}

declare -A pid_of cmd_of
names=()                # in start order; stopped in reverse
start_group() { # name, command... — each child leads its own process group so the whole tree can be stopped
  local name=$1; shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 &
  local pid=$!
  if [[ -z "${pid_of[$name]:-}" ]]; then names+=("$name"); fi
  pid_of[$name]=$pid
  cmd_of[$name]="$*"
  echo "[strata] started $name (pid $pid, log $LOGS/$name.log)"
}

stopping=0
stop_all() {
  [[ $stopping == 1 ]] && return
  stopping=1
  echo; echo "[strata] stopping..."
  # API and worker first (the worker lets in-flight activities finish or cancels them), the server last.
  # A build cut short leaves nothing that looks cached (the get-*.sh scripts build into temp dirs and rename).
  [[ -n "$tools_pid" ]] && { kill -TERM -- "-$tools_pid" 2>/dev/null || true; }
  for ((i=${#names[@]}-1; i>=0; i--)); do kill -TERM -- "-${pid_of[${names[i]}]}" 2>/dev/null || true; done
  local deadline=$((SECONDS + 12))
  while ((SECONDS < deadline)); do
    local alive=0
    for n in "${names[@]}"; do kill -0 -- "-${pid_of[$n]}" 2>/dev/null && alive=1; done
    [[ -n "$tools_pid" ]] && kill -0 -- "-$tools_pid" 2>/dev/null && alive=1
    ((alive == 0)) && break
    sleep 0.2
  done
  for n in "${names[@]}"; do kill -KILL -- "-${pid_of[$n]}" 2>/dev/null || true; done
  [[ -n "$tools_pid" ]] && { kill -KILL -- "-$tools_pid" 2>/dev/null || true; }
  rm -f "$STRATA_SUPERVISOR_STATUS" "$STATUS_FILE_TMP"
  echo "[strata] stopped"
}
# Restart policy. The delay doubles with each restart counted in the sliding window (base, 2×base, 4×base...,
# capped), so a crash loop costs little CPU while a one-off crash is repaired within about a second; restarts
# older than the window are forgotten, so a process that crashes once a day never reaches the cap.
RESTART_BASE="${STRATA_RESTART_BASE_DELAY:-1}"
RESTART_MAX="${STRATA_RESTART_MAX_DELAY:-30}"
RESTART_WINDOW="${STRATA_RESTART_WINDOW:-300}"
CRASH_LOOP_AT=5           # restarts in the window from which the log calls it a crash loop
declare -A recent_restarts restart_due starting
# What is down (dead and waiting for its restart, or restarted and not serving yet), for the API's /ready: it
# cannot see a dead worker itself until its poller entry ages out of Temporal's task-queue description, about
# a minute. Written atomically; the API ignores it once this script's pid is gone.
export STRATA_SUPERVISOR_STATUS="$DATA_DIR/supervisor.json"
write_status() {
  local down=() n
  for n in "${names[@]}"; do [[ -n "${restart_due[$n]:-}${starting[$n]:-}" ]] && down+=("\"$n\""); done
  printf '{"pid":%d,"down":[%s]}\n' "$$" "$(IFS=,; echo "${down[*]}")" >"$STATUS_FILE_TMP"
  mv -f "$STATUS_FILE_TMP" "$STRATA_SUPERVISOR_STATUS"
}
STATUS_FILE_TMP="$STRATA_SUPERVISOR_STATUS.$$"
write_status

# Whether a restarted process serves again: the dev server answers on its port, the worker logged that it
# polls (in what its log gained since the restart, which began at byte $2).
serving() {
  case $1 in
    temporal) reachable "$host" "$port" ;;
    worker) tail -c +"$(($2 + 1))" "$LOGS/worker.log" 2>/dev/null | grep -q '"msg":"worker polling"' ;;
    *) true ;;
  esac
}

# Called once a supervised process is found dead: when it comes back, and what the log says about it.
schedule_restart() {
  local n=$1 code=$2 now=$SECONDS t kept=() others=() o
  for t in ${recent_restarts[$n]:-}; do ((now - t < RESTART_WINDOW)) && kept+=("$t"); done
  local count=$((${#kept[@]} + 1)) delay=$RESTART_BASE i
  for ((i = 1; i < count && delay < RESTART_MAX; i++)); do delay=$((delay * 2)); done
  ((delay > RESTART_MAX)) && delay=$RESTART_MAX
  kept+=("$now")
  recent_restarts[$n]="${kept[*]}"
  restart_due[$n]=$((now + delay))
  unset "starting[$n]"
  for o in "${names[@]}"; do [[ $o != "$n" && -z "${restart_due[$o]:-}${starting[$o]:-}" ]] && others+=("$o"); done
  echo "[strata] $n is down (exit $code); restart $count in the last ${RESTART_WINDOW}s in ${delay}s; still up: ${others[*]:-none} (log $LOGS/$n.log)" >&2
  if ((count >= CRASH_LOOP_AT)); then
    echo "[strata] $n is crash-looping ($count restarts in ${RESTART_WINDOW}s): retrying every ${delay}s at most; see $LOGS/$n.log" >&2
  fi
  # Whatever the dead leader left in its group (a tsx child, a tool) must not keep serving beside its replacement.
  kill -TERM -- "-${pid_of[$n]}" 2>/dev/null || true
  write_status
}

supervise() {
  local n code
  while :; do
    for n in "${names[@]}"; do
      if [[ -n "${restart_due[$n]:-}" ]]; then
        if ((SECONDS >= restart_due[$n])); then
          kill -KILL -- "-${pid_of[$n]}" 2>/dev/null || true
          unset "restart_due[$n]"
          starting[$n]=$(stat -c %s "$LOGS/$n.log" 2>/dev/null || echo 0)
          # shellcheck disable=SC2086
          start_group "$n" ${cmd_of[$n]}
          write_status
        fi
      elif ! kill -0 "${pid_of[$n]}" 2>/dev/null; then
        code=0
        wait "${pid_of[$n]}" 2>/dev/null || code=$?
        schedule_restart "$n" "$code"
      elif [[ -n "${starting[$n]:-}" ]] && serving "$n" "${starting[$n]}"; then
        unset "starting[$n]"
        echo "[strata] $n is up again"
        write_status
      fi
    done
    report_tools
    sleep 0.5 &
    wait $! || true
  done
}

trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT
report_tools
# Whatever the build has published so far (all of it once cached); the app reads tools.env afresh as it grows.
if [[ -f "$CACHE/tools.env" ]]; then
  # shellcheck disable=SC1091
  set -a; source "$CACHE/tools.env"; set +a
fi

host="${ADDRESS%:*}"; port="${ADDRESS##*:}"
reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if reachable "$host" "$port"; then
  echo "[strata] reusing the Temporal server at $ADDRESS"
else
  start_group temporal env TEMPORAL_ADDRESS="$ADDRESS" TEMPORAL_UI_PORT="$UI_PORT" bash temporal/dev-server.sh
  for _ in $(seq 1 150); do reachable "$host" "$port" && break; sleep 0.2; done
  reachable "$host" "$port" || { echo "[strata] Temporal did not come up; see $LOGS/temporal.log" >&2; exit 1; }
fi

# node --import tsx, not the tsx CLI: the CLI SIGKILLs a child that does not acknowledge SIGTERM within 30 ms,
# which would turn the worker's graceful shutdown (applies handed over, not interrupted) into a crash.
start_group worker bash scripts/worker.sh --import tsx src/worker/main.ts
start_group api node --import tsx src/api/server.ts

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
if [[ -n "$tools_pid" ]]; then
  echo "  OPA, OpenTofu and its providers are still building in the background (log $LOGS/tools.log): the"
  echo "  simulated stacks and failover group work now; plans wait for OPA, and tofu stacks for OpenTofu."
  echo
fi

# Stay in the foreground as a small supervisor: a process that dies on its own (a crash, a kill -9) is
# restarted, so the API keeps answering (/ready says 503 and names what is down meanwhile) and runs resume
# from Temporal's history. A process that keeps dying is retried ever more slowly but never given up on, and
# never takes the healthy ones down with it: the API and the dev server stay up while a worker crash-loops.
supervise
