/**
 * ProgressiveRolloutWorkflow on the time-skipping test server, shifting traffic on the real simulated traffic
 * model (src/activities/rollout): pauses are durable timers the server skips, so a canary with 10-minute
 * pauses runs in well under a second of wall time while its recorded step times show the pauses honoured.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { type ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  SimulatedTrafficStore,
  seedSimulatedService,
  setSimulatedTrafficFaults,
  type SimTrafficFaults,
} from '../../src/activities/rollout';
import {
  abortUpdate,
  pauseUpdate,
  promoteUpdate,
  resumeUpdate,
  rolloutStatusQuery,
  rolloutWorkflowId,
  type Rollout,
  type RolloutInput,
  type RolloutStrategy,
} from '../../src/contracts/rollout';
import type { progressiveRolloutWorkflow } from '../../src/workflows/rollout';
import { eventually } from '../helpers/temporal';
import { startTimeSkipping } from '../helpers/time-skipping';
import { startStubWorker, StubWorld } from './stub-worker';

const MIN = 60_000;
const CANARY: RolloutStrategy = {
  type: 'canary',
  steps: [
    { weight: 10, pause: '10m' },
    { weight: 50, pause: '10m', analysis: { window: '1m', maxErrorRate: 0.05, maxLatencyMs: 500 } },
    { weight: 100 },
  ],
};
const alice = { by: 'alice', roles: ['approver'] };
const bob = { by: 'bob', roles: ['deployer'] };

describe('progressive rollout on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Awaited<ReturnType<typeof startStubWorker>>;
  const world = new StubWorld();
  const traffic = new SimulatedTrafficStore(world.rolloutDir);

  beforeAll(async () => {
    env = await startTimeSkipping();
    worker = await startStubWorker(env, world);
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  /** Starts a rollout of v2 over a fresh service whose stable v1 runs 4 instances. */
  async function start(strategy: RolloutStrategy = CANARY, faults: SimTrafficFaults = {}) {
    const service = `web-${randomUUID().slice(0, 8)}`;
    await seedSimulatedService(traffic, service, { version: 'v1', capacity: 4 }, faults);
    const input: RolloutInput = {
      id: `${service}-${randomUUID().slice(0, 8)}`,
      service,
      provider: 'simulated',
      version: 'v2',
      strategy,
      requestedBy: 'carol',
    };
    const handle = await env.client.workflow.start<typeof progressiveRolloutWorkflow>('progressiveRolloutWorkflow', {
      workflowId: rolloutWorkflowId(input.id),
      taskQueue: worker.taskQueue,
      args: [input],
    });
    return { service, handle };
  }

  const at = (iso: string | undefined) => Date.parse(iso!);
  /** Polls the rollout until `pred` holds; time stays locked meanwhile, so a pause waits for the test. */
  const until = (
    handle: { query: (q: typeof rolloutStatusQuery) => Promise<Rollout> },
    pred: (r: Rollout) => boolean,
    what: string,
  ) =>
    eventually(
      async () => {
        const r = await handle.query(rolloutStatusQuery);
        return pred(r) ? r : undefined;
      },
      what,
      30_000,
      50,
    );

  test('canary 10 → 50 → 100 with pauses runs to completion; each pause is honoured in workflow time, not waited for', async () => {
    const wall = Date.now();
    const { service, handle } = await start();
    const r = await handle.result();
    expect(Date.now() - wall).toBeLessThan(15_000);
    expect(r.status).toBe('completed');
    expect(r.steps.map((s) => [s.weight, s.status])).toEqual([
      [10, 'succeeded'],
      [50, 'succeeded'],
      [100, 'succeeded'],
    ]);
    // Step 2 began a full 10 min after step 1 took its weight; step 3 after step 2's 1 min window and 10 min pause.
    expect(at(r.steps[1].startedAt) - at(r.steps[0].weightSetAt)).toBeGreaterThanOrEqual(10 * MIN);
    expect(at(r.steps[2].startedAt) - at(r.steps[1].weightSetAt)).toBeGreaterThanOrEqual(11 * MIN);
    expect(r.steps[1].analysis).toMatchObject({ verdict: 'pass', source: 'simulated', errorRate: 0, windowMs: MIN });
    expect(r.steps.map((s) => s.canaryCapacity)).toEqual([1, 2, 4]);
    const svc = await traffic.read(service);
    expect(svc.stable).toEqual({ version: 'v2', capacity: 4, weight: 100 });
    expect(svc.candidate).toBeUndefined();
    // Every weight the provider was given, in order.
    expect(svc.log.filter((l) => l.op === 'step').map((l) => l.detail.split(' ')[1])).toEqual(['10', '50', '100']);
  });

  test('an error rate injected from 50 % aborts at the 50 % step: all traffic back on stable, v2 scaled down, measurement recorded', async () => {
    const { service, handle } = await start(CANARY, { errorRate: 0.3, fromWeight: 50 });
    const r = await handle.result();
    expect(r.status).toBe('rolled_back');
    expect(r.weight).toBe(0);
    expect(r.steps.map((s) => s.status)).toEqual(['succeeded', 'failed', 'pending']);
    expect(r.abort).toMatchObject({ by: 'analysis', step: 1 });
    expect(r.abort!.analysis).toMatchObject({ verdict: 'fail', errorRate: 0.3, samples: 600 });
    expect(r.abort!.reason).toMatch(/error rate 30\.0 % of v2 at 50 % over 60s exceeds 5\.0 %/);
    expect(r.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['auto_abort', 'rolled_back']));
    const svc = await traffic.read(service);
    expect(svc.stable).toEqual({ version: 'v1', capacity: 4, weight: 100 });
    expect(svc.candidate).toBeUndefined();
    expect(svc.log.map((l) => l.op)).toEqual(['seed', 'provision', 'step', 'step', 'revert']);
  });

  test('promote during the first pause skips every remaining pause; the promote is audited with the caller', async () => {
    const { service, handle } = await start();
    await until(handle, (r) => r.steps[0]?.status === 'paused', 'first pause');
    const view = await handle.executeUpdate(promoteUpdate, { args: [{ ...alice, reason: 'looks good' }] });
    expect(view.promoted).toBe(true);
    const r = await handle.result();
    expect(r.status).toBe('completed');
    expect(r.steps.map((s) => s.status)).toEqual(['skipped_pause', 'skipped_pause', 'succeeded']);
    // The analysis still ran at 50 %, but no pause was waited out: the whole rollout took the 1 min window.
    expect(r.steps[1].analysis?.verdict).toBe('pass');
    expect(at(r.completedAt) - at(r.startedAt)).toBeLessThan(2 * MIN);
    expect(r.events.find((e) => e.kind === 'promote')).toMatchObject({
      by: 'alice',
      via: 'update',
      step: 0,
      weight: 10,
      detail: 'looks good',
    });
    expect((await traffic.read(service)).stable.version).toBe('v2');
  });

  test.each([0, 1, 2])('abort at step %i returns all traffic to stable and records who aborted', async (step) => {
    const strategy: RolloutStrategy = {
      type: 'canary',
      steps: [
        { weight: 10, pause: '10m' },
        { weight: 50, pause: '10m' },
        { weight: 100, pause: '10m' },
      ],
    };
    const { service, handle } = await start(strategy);
    for (let i = 0; i < step; i++) {
      await until(handle, (r) => r.currentStep === i && r.steps[i].status === 'paused', `pause of step ${i}`);
      await env.sleep('10m');
    }
    await until(handle, (r) => r.currentStep === step && r.steps[step].status === 'paused', `pause of step ${step}`);
    const view = await handle.executeUpdate(abortUpdate, { args: [{ ...bob, reason: 'customer complaints' }] });
    // The update answers once the rollout is back on stable.
    expect(view.status).toBe('rolled_back');
    const r = await handle.result();
    expect(r.status).toBe('rolled_back');
    expect(r.abort).toMatchObject({ by: 'bob', step, reason: 'customer complaints' });
    expect(r.steps[step].status).toBe('aborted');
    expect(r.events.find((e) => e.kind === 'abort')).toMatchObject({
      by: 'bob',
      via: 'update',
      step,
      weight: strategy.steps[step].weight,
    });
    const svc = await traffic.read(service);
    expect(svc.stable).toEqual({ version: 'v1', capacity: 4, weight: 100 });
    expect(svc.candidate).toBeUndefined();
  });

  test('a second rollout of a service that is rolling out fails with ROLLOUT_CONFLICT and leaves the first alone', async () => {
    const { service, handle } = await start();
    await until(handle, (r) => r.steps[0]?.status === 'paused', 'first pause');
    const second = await env.client.workflow.start<typeof progressiveRolloutWorkflow>('progressiveRolloutWorkflow', {
      workflowId: rolloutWorkflowId(`${service}-second`),
      taskQueue: worker.taskQueue,
      args: [
        {
          id: `${service}-second`,
          service,
          provider: 'simulated',
          version: 'v3',
          strategy: CANARY,
          requestedBy: 'dave',
        },
      ],
    });
    const err = await second.result().then(
      () => undefined,
      (e: unknown) => e as { cause?: { cause?: ApplicationFailure } },
    );
    expect(err?.cause?.cause).toMatchObject({ type: 'ROLLOUT_CONFLICT' });
    expect(err?.cause?.cause?.message).toMatch(/already rolling out v2/);
    // It never owned anything, so it undid nothing: it ended failed, naming the conflict, not stuck rolling back.
    expect(await second.query(rolloutStatusQuery)).toMatchObject({
      status: 'failed',
      error: { code: 'ROLLOUT_CONFLICT' },
    });
    // The first still owns the service (awaiting the second's result let the server skip past its pause).
    expect((await traffic.read(service)).candidate).toMatchObject({
      version: 'v2',
      rolloutId: expect.stringMatching(/^web-/),
    });
    expect((await handle.query(rolloutStatusQuery)).status).not.toBe('failed');
  });

  test('pause holds the weight past the timer until resume; the validators refuse what does not fit, naming why', async () => {
    const { handle } = await start();
    await until(handle, (r) => r.steps[0]?.status === 'paused', 'first pause');
    const refusal = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
      return { type: cause.type, message: cause.message };
    };
    expect(await refusal(handle.executeUpdate(promoteUpdate, { args: [bob] }))).toEqual({
      type: 'FORBIDDEN',
      message: 'bob may not promote a rollout (needs one of: approver)',
    });
    expect(await refusal(handle.executeUpdate(resumeUpdate, { args: [bob] }))).toMatchObject({
      type: 'ROLLOUT_NOT_PAUSED',
    });
    await handle.executeUpdate(pauseUpdate, { args: [bob] });
    expect(await refusal(handle.executeUpdate(pauseUpdate, { args: [bob] }))).toMatchObject({
      type: 'ROLLOUT_ALREADY_PAUSED',
    });
    await env.sleep('30m');
    const held = await handle.query(rolloutStatusQuery);
    expect(held).toMatchObject({ status: 'paused', currentStep: 0, weight: 10, paused: true });
    await handle.executeUpdate(resumeUpdate, { args: [bob] });
    const r = await handle.result();
    expect(r.status).toBe('completed');
    expect(r.events.filter((e) => ['pause', 'resume'].includes(e.kind)).map((e) => [e.kind, e.by])).toEqual([
      ['pause', 'bob'],
      ['resume', 'bob'],
    ]);
  });

  test('an inconclusive analysis (metrics missing) waits for a person: resume re-measures, then it passes', async () => {
    const { service, handle } = await start(CANARY, { metricsUnavailable: true });
    await until(handle, (r) => r.steps[0]?.status === 'paused', 'first pause');
    // Past the first pause and the 50 % step's one-minute window (time stands still while the test polls).
    await env.sleep('11m');
    const waiting = await until(handle, (r) => r.status === 'paused' && r.currentStep === 1, 'inconclusive analysis');
    expect(waiting.steps[1].analysis).toMatchObject({ verdict: 'inconclusive' });
    expect(waiting.steps[1].analysis!.reasons[0]).toMatch(/metrics source is unavailable/);
    await setSimulatedTrafficFaults(traffic, service, {});
    await handle.executeUpdate(resumeUpdate, { args: [bob] });
    const r = await handle.result();
    expect(r.status).toBe('completed');
    expect(r.steps[1].analysis?.verdict).toBe('pass');
  });

  test('blue-green: green runs at full size without traffic until promoted, then blue is kept for the scale-down delay', async () => {
    const { service, handle } = await start({ type: 'blueGreen', scaleDownDelay: '15m' });
    const gate = await until(handle, (r) => r.status === 'awaiting_promotion', 'promotion gate');
    expect(gate.weight).toBe(0);
    expect((await traffic.read(service)).candidate).toMatchObject({ version: 'v2', capacity: 4, weight: 0 });
    await handle.executeUpdate(promoteUpdate, { args: [alice] });
    const r = await handle.result();
    expect(r.status).toBe('completed');
    // Promote skipped the scale-down delay too: it skips every remaining pause.
    expect(r.steps.map((s) => [s.weight, s.status])).toEqual([
      [0, 'succeeded'],
      [100, 'skipped_pause'],
    ]);
  });

  test('rolling in batches of 50 %: instances move one for one, and an abort restores stable to its old size', async () => {
    const { service, handle } = await start({ type: 'rolling', batchPercent: 50, pauseBetween: '5m' });
    await until(handle, (r) => r.steps[0]?.status === 'paused', 'first batch');
    expect((await traffic.read(service)).stable).toMatchObject({ capacity: 2, weight: 50 });
    await handle.executeUpdate(abortUpdate, { args: [bob] });
    const r = await handle.result();
    expect(r.steps.map((s) => s.weight)).toEqual([50, 100]);
    expect((await traffic.read(service)).stable).toEqual({ version: 'v1', capacity: 4, weight: 100 });
  });

  // Last in the file: the abandoned call stays pending on the test server until the worker stops, and a pending
  // activity keeps the server from skipping time for the tests after it.
  test('abort while the provider hangs on a step: the call is abandoned and the service is back on stable at once', async () => {
    const { service, handle } = await start(CANARY, { stallStepsMs: 60_000 });
    await until(handle, (r) => r.steps[0]?.status === 'running', 'first step in flight');
    const asked = Date.now();
    const view = await handle.executeUpdate(abortUpdate, { args: [bob] });
    expect(Date.now() - asked).toBeLessThan(5_000);
    expect(view.status).toBe('rolled_back');
    const svc = await traffic.read(service);
    expect(svc.stable).toEqual({ version: 'v1', capacity: 4, weight: 100 });
    expect(svc.candidate).toBeUndefined();
  });
});
