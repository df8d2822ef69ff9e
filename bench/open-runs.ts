/** Section "open": what 1,000 runs that stay open cost the worker, and how the API answers meanwhile. */
import { randomInt } from 'node:crypto';
import { openGatedRuns } from './approvals';
import { ENVS, fmtMs, pct, pool, rssMiB, sleep, table, timed, type Section, type World } from './harness';

/** Runs section 4 with `n` open runs, then `reads` GETs and `posts` POSTs at `width` concurrent. */
export async function openRunsSection(w: World, n: number, reads: number, posts: number, width = 20): Promise<Section> {
  const before = rssMiB(w.worker.pid);
  const { ids, ms } = await openGatedRuns(w, n, ENVS.open);
  // A settling moment: the worker's GC catches up once the burst of plans is over.
  await sleep(10_000);
  const open = rssMiB(w.worker.pid);

  const gets: number[] = [];
  for (let i = 0; i < reads; i++) {
    const id = ids[randomInt(ids.length)];
    const [t, r] = await timed(() => w.api.call('alice', 'GET', `/api/v1/deployments/${id}`));
    if (r.status !== 200) throw new Error(`GET ${id}: ${r.status}`);
    gets.push(t);
  }

  // New requests for stacks that are busy: each waits in its stack+environment queue behind the open run.
  const postTimes: number[] = [];
  const postMs = await pool(posts, width, async (i) => {
    const [t, r] = await timed(() =>
      w.api.call('alice', 'POST', '/api/v1/deployments', {
        stack: 'sim-multicloud',
        environment: ENVS.open(i % n),
        variables: { instance_count: 3 },
      }),
    );
    if (r.status !== 202) throw new Error(`POST: ${r.status} ${JSON.stringify(r.json)}`);
    postTimes.push(t);
  });
  await sleep(5_000);
  const after = rssMiB(w.worker.pid);
  const api = process.memoryUsage().rss / 2 ** 20;

  return {
    title: `4. ${n.toLocaleString('en')} open runs`,
    body: [
      `${n} \`sim-multicloud\` runs, each in its own environment with 1 approval required, planned and waiting at`,
      `approval (so each holds its own stack+environment lock: ${n} run workflows plus ${n} lock workflows open;`,
      `none queues). Reaching that took ${fmtMs(ms)} at 20 requests in flight. The worker runs as its own process`,
      `(src/worker/main.ts); RSS from /proc/<pid>/status after a 10 s settling pause.`,
      '',
      table(
        ['worker (own process)', 'VmRSS', 'VmHWM (peak so far)'],
        [
          ['idle, after start-up', `${w.idleRss.rss.toFixed(0)} MiB`, `${w.idleRss.peak.toFixed(0)} MiB`],
          ['before this section', `${before.rss.toFixed(0)} MiB`, `${before.peak.toFixed(0)} MiB`],
          [`${n} runs open`, `${open.rss.toFixed(0)} MiB`, `${open.peak.toFixed(0)} MiB`],
          [`+ ${posts} queued behind them`, `${after.rss.toFixed(0)} MiB`, `${after.peak.toFixed(0)} MiB`],
        ],
      ),
      '',
      `API process (this bench process, API + HTTP client) RSS at the end: ${api.toFixed(0)} MiB.`,
      '',
      table(
        ['request while open', 'n', 'in flight', 'p50', 'p99', 'max'],
        [
          [
            'GET /api/v1/deployments/:id (random open run)',
            reads,
            1,
            fmtMs(pct(gets, 50)),
            fmtMs(pct(gets, 99)),
            fmtMs(Math.max(...gets)),
          ],
          [
            'POST /api/v1/deployments (202; queues behind an open run)',
            posts,
            width,
            fmtMs(pct(postTimes, 50)),
            fmtMs(pct(postTimes, 99)),
            fmtMs(Math.max(...postTimes)),
          ],
        ],
      ),
      '',
      `POSTs: ${((posts / postMs) * 1000).toFixed(1)} accepted per second. The open runs are left to the teardown.`,
    ].join('\n'),
  };
}
