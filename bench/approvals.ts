/** Section "approval": the HTTP round trip of approving a run that waits at its approval gate. */
import { performance } from 'node:perf_hooks';
import { ENVS, fmtMs, pct, pool, table, timed, type Section, type World } from './harness';

/** Starts `n` gated runs in parallel (one environment each) and returns their ids once all await approval. */
export async function openGatedRuns(
  w: World,
  n: number,
  envOf: (i: number) => string,
  width = 20,
): Promise<{ ids: string[]; ms: number; marks: number[] }> {
  const ids: string[] = new Array<string>(n);
  let waiting = 0;
  /** Elapsed ms when each further tenth of the runs was waiting: does opening slow down as more are open? */
  const marks: number[] = [];
  const t0 = performance.now();
  const step = Math.max(1, Math.floor(n / 10));
  const ms = await pool(n, width, async (i) => {
    ids[i] = await w.api.deploy({
      stack: 'sim-multicloud',
      environment: envOf(i),
      variables: { instance_count: 2 },
    });
    // Polled gently: hundreds of runs wait at once, and this poll is not what is measured.
    const d = await w.api.waitFor(ids[i], (s) => s !== 'queued' && s !== 'planning', 500);
    if (d.status !== 'awaiting_approval') throw new Error(`run ${ids[i]} is ${d.status}, not awaiting_approval`);
    if (++waiting % step === 0) marks.push(performance.now() - t0);
    if (waiting % 100 === 0 || waiting === n) process.stderr.write(`bench:   ${waiting}/${n} runs awaiting approval\n`);
  });
  return { ids, ms, marks };
}

/** Runs section 3 over `n` approvals. */
export async function approvalSection(w: World, n: number): Promise<Section> {
  const { ids } = await openGatedRuns(w, n, ENVS.approval);
  const times: number[] = [];
  for (const id of ids) {
    const [t, r] = await timed(() => w.api.call('bob', 'POST', `/api/v1/deployments/${id}/approve`, {}));
    if (r.status !== 200) throw new Error(`approve ${id}: ${r.status} ${JSON.stringify(r.json)}`);
    times.push(t);
  }
  // Every approved run must then apply and succeed: an approval that answered 200 but went nowhere is a failure.
  await pool(ids.length, 20, async (i) => void (await w.api.finish(ids[i])));
  return {
    title: '3. Approval round trip',
    body: [
      `${n} \`sim-multicloud\` runs requested by alice, each in its own environment with \`approvals: {required: 1,`,
      `fourEyes: true}\`, all waiting at approval; bob then approves them one after another. Time: POST`,
      `/api/v1/deployments/:id/approve to its HTTP answer (a Temporal Update the gate validates and accepts). The`,
      `runs approved before keep applying meanwhile, as they would in use; all ${n} succeeded afterwards.`,
      '',
      table(
        ['approvals', 'p50', 'p90', 'p99', 'max'],
        [[n, fmtMs(pct(times, 50)), fmtMs(pct(times, 90)), fmtMs(pct(times, 99)), fmtMs(Math.max(...times))]],
      ),
    ].join('\n'),
  };
}
