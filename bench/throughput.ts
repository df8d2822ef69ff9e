/**
 * Section "throughput": completed workflows per second of a trivial one-activity workflow on bare Temporal, next to
 * completed Strata deployments per second of the simulated cloud over HTTP; same server, same machine, same run.
 */
import { randomUUID } from 'node:crypto';
import { cpuMs, ENVS, fmtMs, pool, selfCpuMs, serverPid, spawnNode, table, type Section, type World } from './harness';
import type { benchTrivialWorkflow } from './trivial-workflows';

/** How often a waiting slot polls its run: 50 slots at 250 ms is 200 GET/s, a load the API should carry. */

/** Runs section 2: `total` completions at `width` in flight on each side. */
export async function throughputSection(w: World, total: number, width: number): Promise<Section> {
  // Bare Temporal: its own worker process and task queue, started here and stopped before Strata's turn.
  const taskQueue = `bench-trivial-${randomUUID()}`;
  const trivial = await spawnNode(
    'bench/trivial-worker.ts',
    {
      STRATA_CONFIG: w.configFile,
      TEMPORAL_ADDRESS: w.config.temporal.address,
      TEMPORAL_NAMESPACE: w.config.temporal.namespace,
      BENCH_TASK_QUEUE: taskQueue,
    },
    /trivial worker polling/,
  );
  const server = serverPid(w.config.temporal.address);
  /** CPU ms the server, the side's worker and this process (client, API) spend while `fn` runs. */
  const metered = async (workerPid: number, fn: () => Promise<number>) => {
    const before = [server ? cpuMs(server) : NaN, cpuMs(workerPid), selfCpuMs()];
    const wall = await fn();
    const after = [server ? cpuMs(server) : NaN, cpuMs(workerPid), selfCpuMs()];
    return { wall, cpu: after.map((x, i) => x - before[i]) };
  };
  let bare: { wall: number; cpu: number[] };
  try {
    const one = (i: number) =>
      w.client.workflow.execute<typeof benchTrivialWorkflow>('benchTrivialWorkflow', {
        taskQueue,
        workflowId: `bench-trivial-${randomUUID()}`,
        args: [i],
      });
    await pool(width, width, async (i) => void (await one(i))); // warm-up: bundle loaded, caches filled
    bare = await metered(trivial.pid, () => pool(total, width, async (i) => void (await one(i))));
  } finally {
    await trivial.stop();
  }

  // Strata: one environment per slot (no lock contention), each deployment a change (instance_count flips 2 ↔ 3).
  const flips = new Array<number>(width).fill(0);
  const deploy = async (slot: number) => {
    const id = await w.api.deploy({
      stack: 'sim-multicloud',
      environment: ENVS.throughput(slot),
      variables: { instance_count: 2 + (flips[slot]++ % 2) },
    });
    await w.api.finish(id);
  };
  await pool(width, width, async (_, slot) => deploy(slot)); // warm-up: every environment's first deployment
  const unavailableBefore = w.api.unavailable;
  const strata = await metered(w.worker.pid, () => pool(total, width, async (_, slot) => deploy(slot)));
  const refused = w.api.unavailable - unavailableBefore;

  const bareRate = (total / bare.wall) * 1000;
  const strataRate = (total / strata.wall) * 1000;
  const perItem = (cpu: number[]) => [...cpu, cpu.reduce((a, b) => a + b, 0)].map((x) => fmtMs(x / total));
  return {
    title: '2. Throughput: bare Temporal vs Strata deployments',
    body: [
      `${total} completions with ${width} in flight (after one warm-up round of ${width}). Bare: \`benchTrivialWorkflow\``,
      `(one no-op activity, bench/trivial-workflows.ts), its own worker process with Strata's worker options and codec,`,
      `started and awaited with the Temporal client. Strata: POST /api/v1/deployments of \`sim-multicloud\` (simulated`,
      `cloud, verify on as shipped), one of ${width} environments per slot (0 approvals), awaited with`,
      `\`GET …/:id?wait=60\` (the server's long poll of the run's history; ${refused} answers were 503 and retried).`,
      '',
      table(
        ['side', 'completed', 'wall', 'per second', 'mean per item'],
        [
          [
            'bare Temporal (workflows)',
            total,
            fmtMs(bare.wall),
            bareRate.toFixed(1),
            fmtMs((bare.wall * width) / total),
          ],
          [
            'Strata (deployments)',
            total,
            fmtMs(strata.wall),
            strataRate.toFixed(2),
            fmtMs((strata.wall * width) / total),
          ],
          ['ratio Strata / bare', '', '', (strataRate / bareRate).toFixed(2), ''],
        ],
      ),
      '',
      'CPU time per completion, by process (from /proc; the machine has 2 cores, so about 1 s of CPU per 0.5 s of',
      'wall time is all there is):',
      '',
      table(
        ['side', 'Temporal server', 'worker', 'bench process (client; API for Strata)', 'total'],
        [
          ['bare Temporal', ...perItem(bare.cpu)],
          ['Strata', ...perItem(strata.cpu)],
        ],
      ),
    ].join('\n'),
  };
}
