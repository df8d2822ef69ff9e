/** Section "open": what 1,000 runs that stay open cost the worker, and how the API answers meanwhile. */
import { randomInt } from 'node:crypto';
import { openGatedRuns } from './approvals';
import { ENVS, fmtMs, pct, pool, rssMiB, sleep, table, timed, type Section, type World } from './harness';

/** Runs section 4 with `n` open runs, then `reads` GETs and `posts` POSTs at `width` concurrent. */
export async function openRunsSection(w: World, n: number, reads: number, posts: number, width = 20): Promise<Section> {
  const before = rssMiB(w.worker.pid);
  const unavailableBefore = w.api.unavailable;
  const { ids, ms, marks } = await openGatedRuns(w, n, ENVS.open);
  const step = Math.max(1, Math.floor(n / 10));
  const rates = marks.map((m, i) => ((step / (m - (i ? marks[i - 1] : 0))) * 1000).toFixed(1));
  // A settling moment: the worker's GC catches up once the burst of plans is over.
  await sleep(10_000);
  const open = rssMiB(w.worker.pid);

  const opening503 = w.api.unavailable - unavailableBefore;

  // Every answer counts in the percentiles, a refusal too (its time is what the caller waited); refusals are named.
  const gets: number[] = [];
  const getRefusals: Record<number, number> = {};
  for (let i = 0; i < reads; i++) {
    const id = ids[randomInt(ids.length)];
    const [t, r] = await timed(() => w.api.call('alice', 'GET', `/api/v1/deployments/${id}`));
    if (r.status !== 200) getRefusals[r.status] = (getRefusals[r.status] ?? 0) + 1;
    gets.push(t);
  }

  // New requests for stacks that are busy: each waits in its stack+environment queue behind the open run.
  const postTimes: number[] = [];
  const postRefusals: Record<number, number> = {};
  const postMs = await pool(posts, width, async (i) => {
    const [t, r] = await timed(() =>
      w.api.call('alice', 'POST', '/api/v1/deployments', {
        stack: 'sim-multicloud',
        environment: ENVS.open(i % n),
        variables: { instance_count: 3 },
      }),
    );
    if (r.status !== 202) postRefusals[r.status] = (postRefusals[r.status] ?? 0) + 1;
    postTimes.push(t);
  });
  await sleep(5_000);
  const after = rssMiB(w.worker.pid);
  const api = process.memoryUsage().rss / 2 ** 20;

  const refusals = (x: Record<number, number>) =>
    Object.entries(x)
      .map(([status, count]) => `${count}× ${status}`)
      .join(', ') || 'none';
  return {
    title: `4. ${n.toLocaleString('en')} open runs`,
    body: [
      `${n} \`sim-multicloud\` runs, each in its own environment with 1 approval required, planned and waiting at`,
      `approval (so each holds its own stack+environment lock: ${n} run workflows plus ${n} lock workflows open;`,
      `none queues). Reaching that took ${fmtMs(ms)} at 20 requests in flight. The worker runs as its own process`,
      `(src/worker/main.ts); RSS from /proc/<pid>/status after a 10 s settling pause.`,
      '',
      `Opening rate, runs reaching awaiting_approval per second, per tenth (${step} runs) as more are open:`,
      `${rates.join(', ')}.`,
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
        ['request while open', 'n', 'in flight', 'p50', 'p99', 'max', 'not 2xx'],
        [
          [
            'GET /api/v1/deployments/:id (random open run)',
            reads,
            1,
            fmtMs(pct(gets, 50)),
            fmtMs(pct(gets, 99)),
            fmtMs(Math.max(...gets)),
            refusals(getRefusals),
          ],
          [
            'POST /api/v1/deployments (202; queues behind an open run)',
            posts,
            width,
            fmtMs(pct(postTimes, 50)),
            fmtMs(pct(postTimes, 99)),
            fmtMs(Math.max(...postTimes)),
            refusals(postRefusals),
          ],
        ],
      ),
      '',
      `POSTs: ${((posts / postMs) * 1000).toFixed(1)} answered per second. While the ${n} runs were being opened,`,
      `${opening503} status polls (every 500 ms per run) were answered 503 UNAVAILABLE (the run's query found no worker`,
      `in time) and retried. The open runs are left to the teardown.`,
    ].join('\n'),
  };
}
