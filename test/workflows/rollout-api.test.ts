/**
 * Progressive rollouts end to end on a real dev server and worker: strategies refused with a 400 naming the
 * problem (nothing starts), a canary promoted and another aborted over the HTTP API with the caller recorded
 * as the API proved them (signed), and an unsigned action typed straight at Temporal refused.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import path from 'node:path';
import { seedSimulatedService, SimulatedTrafficStore } from '../../src/activities/rollout';
import { promoteUpdate, rolloutWorkflowId, type Rollout } from '../../src/contracts/rollout';
import type { User } from '../helpers/api-client';
import { recordHistory } from '../helpers/histories';
import { poll } from '../helpers/poll';
import { testConfig, useStrata } from '../helpers/temporal';

describe('rollouts over the API', () => {
  const config = testConfig();
  const s = useStrata(config);
  // The worker keeps simulated services beside its work dir (src/worker/create-worker.ts).
  const traffic = new SimulatedTrafficStore(path.join(path.dirname(config.workDir), 'rollout'));
  const holdAtTen = {
    type: 'canary',
    steps: [
      { weight: 10, pause: '1h' },
      { weight: 50, analysis: { window: '1s', maxErrorRate: 0.05 } },
      { weight: 100 },
    ],
  };

  const rollout = async (id: string, user: User = 'alice'): Promise<Rollout> => {
    const res = await s.http.get(user, `/api/v1/rollouts/${id}`);
    if (res.status !== 200) throw new Error(`GET rollout ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Rollout;
  };
  const waitFor = (id: string, pred: (r: Rollout) => boolean, what: string) =>
    poll(
      async () => {
        const r = await rollout(id).catch(() => undefined);
        return r && pred(r) ? r : undefined;
      },
      { what: `rollout ${id}: ${what}`, timeoutMs: 60_000, everyMs: 200 },
    );
  const start = async (service: string, strategy: object = holdAtTen) => {
    const res = await s.http.post('alice', '/api/v1/rollouts', { service, version: 'v2', strategy });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };

  test.each([
    [
      { type: 'canary', steps: [{ weight: 50 }, { weight: 10 }, { weight: 100 }] },
      'body.strategy.steps.1.weight: weights must rise step by step: 10 follows 50',
    ],
    [
      { type: 'canary', steps: [{ weight: 10 }, { weight: 50 }] },
      'body.strategy.steps.1.weight: the last step must send 100 % of traffic to the new version, not 50',
    ],
    [
      { type: 'canary', steps: [{ weight: 100, pause: '10 minutes' }] },
      'body.strategy.steps.0.pause: a duration with a unit',
    ],
    [
      { type: 'canary', steps: [{ weight: 100, analysis: { window: '1m' } }] },
      'analysis needs at least one of maxErrorRate, maxLatencyMs or probes',
    ],
    [
      { type: 'rolling', batchSize: 2, batchPercent: 50, pauseBetween: '1m' },
      'rolling needs exactly one of batchSize or batchPercent',
    ],
    [{ type: 'blueGreen' }, 'body.strategy.scaleDownDelay'],
    [{ type: 'linear' }, 'body.strategy.type'],
  ])('refuses %j with a 400 naming the problem, starting nothing', async (strategy, message) => {
    const service = `bad-${Math.random().toString(36).slice(2, 8)}`;
    const res = await s.http.post('alice', '/api/v1/rollouts', { service, version: 'v2', strategy });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toContain(message);
    expect((await traffic.read(service)).log).toEqual([]);
  });

  test('promote by an approver skips the 1 h pause; the rollout completes and records who promoted, proven by the API', async () => {
    const id = await start('shop');
    await waitFor(id, (r) => r.steps[0]?.status === 'paused', 'holding at 10 %');
    expect((await traffic.read('shop')).candidate).toMatchObject({ version: 'v2', weight: 10, capacity: 1 });
    // A deployer may pause and abort but not promote (that skips safety pauses).
    const denied = await s.http.post('alice', `/api/v1/rollouts/${id}/promote`, {});
    expect(denied.status).toBe(403);
    const res = await s.http.post('bob', `/api/v1/rollouts/${id}/promote`, { reason: 'metrics look fine' });
    expect(res.status).toBe(200);
    expect(res.body.promoted).toBe(true);
    const r = await waitFor(id, (x) => x.status === 'completed', 'completed');
    await recordHistory(
      s.env.connection.options.address as string,
      rolloutWorkflowId(id),
      'rollout-canary-promoted-completed',
    );
    expect(r.steps.map((x) => x.status)).toEqual(['skipped_pause', 'succeeded', 'succeeded']);
    expect(r.steps[1].analysis).toMatchObject({ verdict: 'pass', errorRate: 0 });
    expect(r.events.find((e) => e.kind === 'promote')).toMatchObject({
      by: 'bob',
      via: 'api',
      step: 0,
      weight: 10,
      detail: 'metrics look fine',
    });
    expect((await traffic.read('shop')).stable).toEqual({ version: 'v2', capacity: 4, weight: 100 });
    // Finished: nothing left to abort.
    const late = await s.http.post('alice', `/api/v1/rollouts/${id}/abort`, {});
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(/rollout is completed: nothing to abort/);
  });

  test('abort at 10 % answers once all traffic is back on stable, with the caller recorded', async () => {
    const id = await start('cart');
    await waitFor(id, (r) => r.steps[0]?.status === 'paused', 'holding at 10 %');
    const res = await s.http.post('alice', `/api/v1/rollouts/${id}/abort`, { reason: 'checkout errors' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'rolled_back',
      weight: 0,
      abort: { by: 'alice', step: 0, reason: 'checkout errors' },
    });
    expect((res.body as Rollout).events.find((e) => e.kind === 'abort')).toMatchObject({ by: 'alice', via: 'api' });
    await recordHistory(
      s.env.connection.options.address as string,
      rolloutWorkflowId(id),
      'rollout-canary-aborted-rolled-back',
    );
    const svc = await traffic.read('cart');
    expect(svc.stable).toEqual({ version: 'v0', capacity: 4, weight: 100 });
    expect(svc.candidate).toBeUndefined();
  });

  test('an error rate injected from 50 % rolls back on its own, the measurement in GET /rollouts/:id', async () => {
    await seedSimulatedService(traffic, 'pay', { version: 'v1', capacity: 4 }, { errorRate: 0.3, fromWeight: 50 });
    const id = await start('pay', {
      type: 'canary',
      steps: [{ weight: 10 }, { weight: 50, analysis: { window: '1s', maxErrorRate: 0.05 } }, { weight: 100 }],
    });
    const r = await waitFor(id, (x) => x.status === 'rolled_back', 'rolled back');
    await recordHistory(
      s.env.connection.options.address as string,
      rolloutWorkflowId(id),
      'rollout-canary-analysis-failed-rolled-back',
    );
    expect(r.abort).toMatchObject({
      by: 'analysis',
      step: 1,
      analysis: { verdict: 'fail', errorRate: 0.3, samples: 10 },
    });
    expect(r.steps.map((x) => x.status)).toEqual(['succeeded', 'failed', 'pending']);
    expect((await traffic.read('pay')).stable).toEqual({ version: 'v1', capacity: 4, weight: 100 });
    expect((await traffic.read('pay')).candidate).toBeUndefined();
  });

  test('an unsigned promote sent straight to Temporal is refused: the caller it claims proves nothing', async () => {
    const id = await start('search');
    await waitFor(id, (r) => r.steps[0]?.status === 'paused', 'holding at 10 %');
    const err = await s.env.client.workflow
      .getHandle(rolloutWorkflowId(id))
      .executeUpdate(promoteUpdate, { args: [{ by: 'mallory', roles: ['admin'] }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('FORBIDDEN');
    expect(((err as WorkflowUpdateFailedError).cause as ApplicationFailure).message).toMatch(
      /unsigned or forged promote/,
    );
    const r = await rollout(id);
    expect(r.promoted).toBe(false);
    expect(r.events.some((e) => e.kind === 'promote')).toBe(false);
    expect((await s.http.post('carol', `/api/v1/rollouts/${id}/abort`, {})).status).toBe(200);
  });

  test('GET of an unknown rollout is a 404', async () => {
    const res = await s.http.get('alice', '/api/v1/rollouts/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe('no rollout with id "nothing-here"');
  });
});
