/**
 * The FailoverWorkflow's saga on the simulated cloud, where it must leave the world and the global state
 * telling the truth: an emergency that fails after promotion, the order compensations run in, a replica
 * that only a human can re-attach, the lock held through a long promotion, and readiness re-checked after
 * a long approval wait.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { LockHeldError } from '../../src/activities/cloud/failover-cloud';
import {
  createSimulatedFailoverActivities,
  SimulatedWorldStore,
  setSimulatedFaults,
  type SimWorld,
} from '../../src/activities/cloud/simulated';
import { approveSignal } from '../../src/contracts/approval';
import { FAILOVER_TERMINAL_STATUSES, failoverStatusQuery, type Failover } from '../../src/contracts/failover';
import { parseGroup } from '../helpers/failover-fixture';
import { recordHistory } from '../helpers/histories';
import {
  failoverInput,
  startFailover,
  startFailoverWorker,
  until,
  waitForStatus,
  type FailoverWorker,
} from '../helpers/failover-worker';
import { startTemporal } from '../helpers/temporal';

describe('FailoverWorkflow saga on the simulated cloud', () => {
  let env: TestWorkflowEnvironment;
  let worker: FailoverWorker;
  const taskQueue = `failover-saga-${randomUUID()}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fo-saga-'));
  const store = new SimulatedWorldStore(dataDir);
  const groups: Record<string, ReturnType<typeof parseGroup>> = {};
  /** A fresh group per test: the world files never leak from one test into the next. */
  const group = (name: string, raw: Record<string, unknown> = {}) => {
    groups[name] = parseGroup(name, {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 2 },
      secondary: { region: 'us-west-2' },
      approval: { required: 0 },
      ...raw,
    });
    return { name, cfg: groups[name] };
  };
  const world = (name: string): Promise<SimWorld> => store.read({ name, cfg: groups[name] });

  for (const name of ['emergency-partial', 'ordered-undo', 'long-promotion', 'lost-lock']) group(name);
  // No configured capacity: the target is scaled to what the source runs when the failover goes ahead.
  for (const name of ['recheck-capacity', 'recheck-unready'])
    group(name, { primary: { region: 'us-east-1' }, approval: { required: 1 } });
  /** Another party acting on the same world: what a second run (or an operator) would do. */
  const other = createSimulatedFailoverActivities({ store });

  beforeAll(async () => {
    env = await startTemporal();
    worker = await startFailoverWorker(env, taskQueue, { groups, simulated: { dataDir } });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  it('emergency failing after promotion records the promoted target at a new epoch and lists what is left to do', async () => {
    const g = { name: 'emergency-partial', cfg: groups['emergency-partial'] };
    await setSimulatedFaults(store, g, {
      unreachable: ['primary'],
      failStep: { stage: 'target_activation', step: 'switch_traffic' },
    });
    const h = await startFailover(env.client, taskQueue, failoverInput(g.name, g.cfg, { mode: 'emergency' }));
    const done = await h.result();
    expect(done.status).toBe('needs_attention');
    expect(done.epoch).toBe(1);
    const steps = done.manualSteps ?? [];
    // What the run could not do, named by stage and step, in the order an operator would do them.
    expect(steps.map((s) => s.split(':')[0])).toEqual([
      'source_preparation/scale_source',
      'demotion/fence_database',
      'target_activation/switch_traffic',
      'target_activation/verify_health',
    ]);
    expect(steps.find((s) => s.startsWith('target_activation/switch_traffic'))).toMatch(/injected failure/);
    const w = await world(g.name);
    expect(w.global).toMatchObject({
      activeSide: 'secondary',
      epoch: 1,
      lastFailoverId: done.id,
      attention: { failoverId: done.id, manualSteps: steps },
    });
    expect(w.global.history).toEqual([
      expect.objectContaining({ failoverId: done.id, from: 'primary', to: 'secondary', epoch: 1, incomplete: true }),
    ]);
    expect(w.global.lock).toBeUndefined();
    expect(w.sides.secondary.db).toMatchObject({ role: 'primary', promotions: 1 });
    await recordHistory(env.address, h.workflowId, 'failover-sim-emergency-after-promotion-needs-attention');
  });

  it('compensations bring the source back (capacity, unfenced) before traffic returns to it, at the weights it had', async () => {
    const g = { name: 'ordered-undo', cfg: groups['ordered-undo'] };
    await store.mutate(g, (w) => {
      w.sides.primary.dnsWeight = 70;
      w.sides.secondary.dnsWeight = 30;
      w.faults = { failStep: { stage: 'target_activation' } };
    });
    const h = await startFailover(env.client, taskQueue, failoverInput(g.name, g.cfg));
    const done = await h.result();
    expect(done.status).toBe('rolled_back');
    await recordHistory(env.address, h.workflowId, 'failover-sim-undo-by-phase-rolled-back');
    const w = await world(g.name);
    expect([w.sides.primary.dnsWeight, w.sides.secondary.dnsWeight]).toEqual([70, 30]);
    expect([w.sides.primary.capacity.desired, w.sides.secondary.capacity.desired]).toEqual([2, 0]);
    // The world's change log after the switch to the target, in the order the changes reached the world.
    const switched = w.log.findIndex((e) => e.op === 'dns' && /secondary 100/.test(e.detail));
    expect(switched).toBeGreaterThan(0);
    const undo = w.log.slice(switched + 1);
    const at = (op: string, re: RegExp) => undo.findIndex((e) => e.op === op && re.test(e.detail));
    const trafficBack = at('dns', /primary/);
    expect(trafficBack).toBeGreaterThanOrEqual(0);
    expect(at('capacity', /^primary .* desired 2/)).toBeLessThan(trafficBack);
    expect(at('fence', /unfenced/)).toBeLessThan(trafficBack);
    expect(at('capacity', /^secondary .* desired 0/)).toBeGreaterThan(trafficBack);
  });

  /** Starts a planned failover with a 3 s lock TTL and a promotion of 8 s, and waits until the promotion runs. */
  async function startLongPromotion(name: string) {
    const g = { name, cfg: groups[name] };
    await setSimulatedFaults(store, g, { promotionMs: 8000 });
    const h = await startFailover(env.client, taskQueue, failoverInput(name, g.cfg, { lockTtlMs: 3000 }));
    const stageOf = (f: Failover, n: string) => f.stages.find((x) => x.name === n)!;
    await until(
      async () => stageOf(await h.query(failoverStatusQuery), 'promotion').status === 'running',
      'the promotion to start',
    );
    return { g, h, stageOf };
  }

  it('the global lock is renewed while a promotion outlasts its TTL: no one else can take it meanwhile', async () => {
    const { g, h } = await startLongPromotion('long-promotion');
    const outcome = await until(
      async () => {
        if (FAILOVER_TERMINAL_STATUSES.includes((await h.query(failoverStatusQuery)).status)) return 'ended';
        try {
          await other.acquireLock(g, { owner: 'intruder', ttlMs: 60_000 });
          return 'taken';
        } catch (err) {
          if (err instanceof LockHeldError) return undefined;
          throw err;
        }
      },
      'the failover to end or its lock to be taken',
      60_000,
    );
    expect(outcome).toBe('ended');
    const done = await h.result();
    expect(done.status).toBe('succeeded');
    expect((await world(g.name)).global).toMatchObject({ activeSide: 'secondary', epoch: 1 });
    await recordHistory(env.address, h.workflowId, 'failover-sim-lock-renewed-through-promotion');
  });

  it('a run that lost the global lock mid-way refuses to commit and undoes nothing without it', async () => {
    const { g, h, stageOf } = await startLongPromotion('lost-lock');
    // Mid-way means inside the promotion, past its lag check: its undo is registered by then. Taken earlier, the
    // stage's own renewal at its start sees the intruder first, and there is no promotion to leave undone.
    await until(
      async () =>
        stageOf(await h.query(failoverStatusQuery), 'promotion').steps.some(
          (x) => x.name === 'replication_lag' && x.status === 'succeeded',
        ),
      'the promotion to be past its lag check',
    );
    // The lock is taken from under the run (an operator clearing it, a clock jump): the world says so.
    await store.mutate(g, (w) => {
      w.global.lock = { owner: 'intruder', expiresAt: new Date(Date.now() + 60_000).toISOString() };
    });
    await until(async () => {
      const f = await h.query(failoverStatusQuery);
      return f.events.some((e) => /lock lost/.test(e.message)) || stageOf(f, 'promotion').status !== 'running';
    }, 'the run to notice, or the promotion to end');
    // Released again before the run's next stage: only noticing the loss while it happened stops the commit.
    expect(await other.releaseLock(g, 'intruder')).toBe(true);
    const done = await h.result();
    expect(done.status).toBe('needs_attention');
    expect(done.error).toMatchObject({ code: 'FAILOVER_LOCK_LOST', message: expect.stringContaining('intruder') });
    expect(stageOf(done, 'completion').status).not.toBe('succeeded');
    expect(done.compensations).toEqual([]);
    expect(done.manualSteps?.[0]).toMatch(/global lock .*intruder/);
    expect(done.manualSteps).toContainEqual(expect.stringMatching(/^promotion\/reattach_replica: not undone/));
    const w = await world(g.name);
    expect(w.global).toMatchObject({ activeSide: 'primary', epoch: 0 });
    expect(w.global.lock).toBeUndefined();
    await recordHistory(env.address, h.workflowId, 'failover-sim-lock-lost-needs-attention');
  });

  /** Starts a planned failover behind one approval, lets `change` alter the world during the wait, then approves. */
  async function approveAfter(name: string, change: (w: SimWorld) => void) {
    const g = { name, cfg: groups[name] };
    const h = await startFailover(env.client, taskQueue, failoverInput(name, g.cfg));
    const waiting = await waitForStatus(h, ['awaiting_approval']);
    expect(waiting.plan.find((a) => a.step === 'scale_target')?.description).toMatch(/desired 2/);
    await store.mutate(g, change);
    await h.signal(approveSignal, { by: 'bob', roles: ['approver'] });
    const done = await h.result();
    await recordHistory(env.address, h.workflowId, `failover-sim-${name}-after-approval`);
    return done;
  }

  it('readiness and capacities are read again after a long approval wait: the target gets what the source runs now', async () => {
    const done = await approveAfter('recheck-capacity', (w) => {
      w.sides.primary.capacity = { min: 1, max: 6, desired: 4 }; // scaled up while the approvers were away
    });
    expect(done.status).toBe('succeeded');
    expect(done.plan.find((a) => a.step === 'scale_target')?.description).toMatch(/desired 4/);
    expect((await world('recheck-capacity')).sides.secondary.capacity.desired).toBe(4);
  });

  it('a target that stopped being ready during the approval wait is refused before anything changes', async () => {
    const done = await approveAfter('recheck-unready', (w) => {
      w.sides.secondary.db.role = 'primary'; // promoted by hand meanwhile: no replica to promote any more
    });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({
      code: 'FAILOVER_NOT_READY',
      message: expect.stringContaining('target_replica_available'),
    });
    expect(done.compensations).toEqual([]);
    const w = await world('recheck-unready');
    expect([w.sides.primary.dnsWeight, w.sides.primary.capacity.desired]).toEqual([100, 2]);
    expect(w.global).toMatchObject({ activeSide: 'primary', epoch: 0 });
    expect(w.global.lock).toBeUndefined();
  });
});
