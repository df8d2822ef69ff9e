/** Section "failover": a planned failover of the simulated group `web`, stage by stage, and its RTO. */
import { FAILOVER_STAGES, FAILOVER_TERMINAL_STATUSES } from '../src/contracts/failover';
import { performance } from 'node:perf_hooks';
import { fmtMs, median, sleep, table, timed, type Section, type World } from './harness';

/** Runs section 5: `samples` planned failovers, alternately primary → secondary and back. */
export async function failoverSection(w: World, samples: number): Promise<Section> {
  const stageMs: Record<string, number[]> = Object.fromEntries(FAILOVER_STAGES.map((s) => [s, []]));
  const rto: number[] = [];
  const wall: number[] = [];
  /** How long POSTs were refused with FAILOVER_IN_PROGRESS after the previous failover had reported succeeded. */
  const refusedFor: number[] = [];
  const start = async (): Promise<string> => {
    const t = performance.now();
    for (;;) {
      const r = await w.api.call('alice', 'POST', '/api/v1/failovers', {
        group: 'web',
        mode: 'planned',
        reason: 'benchmark',
      });
      if (r.status === 202) {
        refusedFor.push(performance.now() - t);
        return r.json.id as string;
      }
      // Visibility still lists the previous run as open for a moment after its status says succeeded.
      if (r.status !== 409 || r.json?.error?.code !== 'FAILOVER_IN_PROGRESS' || performance.now() - t > 60_000)
        throw new Error(`POST /api/v1/failovers ${r.status}: ${JSON.stringify(r.json)}`);
      await sleep(20);
    }
  };
  const one = async () => {
    const id = await start();
    const [t, doc] = await timed(async () => {
      for (;;) {
        const g = await w.api.call('alice', 'GET', `/api/v1/failovers/${id}`);
        if (g.status === 200 && (FAILOVER_TERMINAL_STATUSES as readonly string[]).includes(g.json.status))
          return g.json;
        await sleep(20);
      }
    });
    if (doc.status !== 'succeeded')
      throw new Error(`failover ${doc.id} ended ${doc.status}: ${JSON.stringify(doc.error)}`);
    return { t, doc };
  };
  await one(); // warm-up (and the first flip: samples then alternate sides)
  for (let i = 0; i < samples; i++) {
    const { t, doc } = await one();
    wall.push(t);
    if (typeof doc.rtoSeconds === 'number') rto.push(doc.rtoSeconds * 1000);
    for (const s of doc.stages as { name: string; durationMs?: number }[])
      if (typeof s.durationMs === 'number') stageMs[s.name].push(s.durationMs);
  }
  const stageTotal = FAILOVER_STAGES.reduce((a, s) => a + (median(stageMs[s]) || 0), 0);
  return {
    title: '5. Planned failover, stage by stage (group `web`, simulated cloud)',
    body: [
      `POST /api/v1/failovers \`{group: web, mode: planned}\` with the group's approval at 0 (the RTO is the machine's`,
      `part only), then GET /api/v1/failovers/:id every 20 ms until it ends. Medians of ${samples} failovers after one`,
      `warm-up, alternately to the secondary and back. Stage durations are the workflow's own (\`stages[].durationMs\`).`,
      '',
      table(
        ['stage', 'median'],
        [
          ...FAILOVER_STAGES.map((s) => [s, fmtMs(median(stageMs[s]))]),
          ['sum of stages', fmtMs(stageTotal)],
          ['RTO (`rtoSeconds`: decision → target serving, health verified)', fmtMs(median(rto))],
          ['POST accepted → GET says succeeded (as a caller sees it)', fmtMs(median(wall))],
          [
            'next POST refused (409 FAILOVER_IN_PROGRESS) after `succeeded`, max',
            fmtMs(Math.max(...refusedFor.slice(1))),
          ],
        ],
      ),
    ].join('\n'),
  };
}
