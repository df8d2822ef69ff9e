#!/usr/bin/env bash
# Runs a Strata worker process with the memory settings it is measured with (README, "Where the time goes"):
#   scripts/worker.sh [node flags] --import tsx src/worker/main.ts     (from the source tree, as `npm start` does)
#   scripts/worker.sh dist/src/worker/main.js                         (built)
# - --max-semi-space-size: V8 grows a young generation to 3 x 16 MiB per isolate under a burst of workflow tasks
#   and keeps it; 4 MiB semi-spaces cost a few more scavenges and keep ~100 MiB less resident at 1,000 open runs.
# - --max-old-space-size: the worker's own heap (activities, the SDK) holds ~70 MiB live at 1,000 open runs;
#   bounded, V8 collects before garbage piles up as RSS. Workflows run in their own isolate, sized by the
#   config's worker.workflowHeapMb.
# - MALLOC_ARENA_MAX: glibc gives every thread that allocates (the Rust core's, libuv's) its own arena and
#   rarely hands their memory back; two arenas are plenty for a worker.
# STRATA_WORKER_HEAP_MB and STRATA_WORKER_SEMI_SPACE_MB change the first two; an exported MALLOC_ARENA_MAX wins.
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec node --max-old-space-size="${STRATA_WORKER_HEAP_MB:-256}" --max-semi-space-size="${STRATA_WORKER_SEMI_SPACE_MB:-4}" "$@"
