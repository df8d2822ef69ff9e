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
# - MALLOC_MMAP_THRESHOLD_: glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed, after
#   which large blocks (tool output, plan JSON) come from the arenas and stay there; fixed at 128 KiB they are
#   mapped and unmapped. After the tofu and throughput benchmarks the worker held 329 MiB instead of 385 MiB.
# STRATA_WORKER_HEAP_MB and STRATA_WORKER_SEMI_SPACE_MB change the V8 settings; exported MALLOC_* values win.
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"
exec node --max-old-space-size="${STRATA_WORKER_HEAP_MB:-256}" --max-semi-space-size="${STRATA_WORKER_SEMI_SPACE_MB:-4}" "$@"
