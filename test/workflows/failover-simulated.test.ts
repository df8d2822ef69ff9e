/**
 * The quick start's failover group `web` on the simulated cloud (no credentials): all six stages, a dry run,
 * fail-back, emergency with an unreachable region, a world-level injected failure, and the monitor that
 * triggers exactly one failover after K consecutive failed probes and none for a flapping probe.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { TypedSearchAttributes } from '@temporalio/common';
import { SimulatedWorldStore, setSimulatedFaults, type SimWorld } from '../../src/activities/cloud/simulated';
import { parseDuration } from '../../src/shared/duration';
import { FailoverGroupKey, KindKey } from '../../src/shared/search-attributes';
import { approveSignal } from '../../src/contracts/approval';
import { FAILOVER_STAGES, failoverStatusQuery, type Failover } from '../../src/contracts/failover';
import type { failoverMonitorWorkflow } from '../../src/workflows/failover-monitor';
import {
  failoverMonitorWorkflowId,
  monitorStatusQuery,
  stopMonitorSignal,
  type FailoverMonitorInput,
} from '../../src/contracts/monitor';
import express from 'express';
import request from 'supertest';
import { authenticate, tokenAuthenticator } from '../../src/api/auth';
import { FailoverService } from '../../src/api/failovers/failover-service';
import { createGateway } from '../../src/client';
import { failoverGroupsRouter, failoversRouter } from '../../src/api/failovers/routes';
import { errorHandler } from '../../src/api/http-errors';
import { RouteRegistry } from '../../src/api/routes';
import { TOKENS, type User } from '../helpers/api-client';
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
import { startTemporal, testConfig } from '../helpers/temporal';

describe('FailoverWorkflow on the simulated cloud, and the FailoverMonitorWorkflow', () => {
  let env: TestWorkflowEnvironment;
  let worker: FailoverWorker;
  let probeServer: http.Server;
  const taskQueue = `failover-sim-${randomUUID()}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fo-sim-'));
  const store = new SimulatedWorldStore(dataDir);
  // The probe endpoint answers from a script the test changes: one status per request, the last repeats.
  let script: number[] = [200];
  let served = 0;
  const groups = {
    web: parseGroup('web', {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 3 },
      secondary: { region: 'us-west-2' },
      approval: { required: 1 },
    }),
    'web-emergency': parseGroup('web-emergency', {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 2 },
      secondary: { region: 'us-west-2' },
      approval: { required: 0 },
    }),
    'web-api': parseGroup('web-api', {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 2 },
      secondary: { region: 'us-west-2' },
      approval: { required: 1 },
    }),
    'web-faulty': parseGroup('web-faulty', {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 2 },
      secondary: { region: 'us-west-2' },
      approval: { required: 0 },
    }),
  } as Record<string, ReturnType<typeof parseGroup>>;
  const world = (name: string): Promise<SimWorld> => store.read({ name, cfg: groups[name] });

  beforeAll(async () => {
    probeServer = http.createServer((_req, res) => {
      const status = script[Math.min(served++, script.length - 1)];
      res.writeHead(status).end(String(status));
    });
    await new Promise<void>((r) => probeServer.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(probeServer.address() as AddressInfo).port}/health`;
    for (const name of ['mon-flap', 'mon-down']) {
      groups[name] = parseGroup(name, {
        provider: 'simulated',
        primary: { region: 'us-east-1', capacity: 2 },
        secondary: { region: 'us-west-2' },
        approval: { required: 0 },
        health: { every: '200ms', failuresToTrigger: 3, url, timeout: '1s' },
      });
    }
    env = await startTemporal();
    worker = await startFailoverWorker(env, taskQueue, { groups, simulated: { dataDir } });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
    await new Promise((r) => probeServer?.close(r));
  });

  it('web: a dry run plans every action and changes nothing', async () => {
    const h = await startFailover(env.client, taskQueue, failoverInput('web', groups.web, { dryRun: true }));
    const done = await h.result();
    expect(done.status).toBe('planned');
    expect(done.plan.map((a) => a.step)).toEqual([
      'readiness',
      'acquire_lock',
      'drain_traffic',
      'scale_source',
      'fence_database',
      'replication_lag',
      'promote_replica',
      'scale_target',
      'switch_traffic',
      'verify_health',
      'commit',
    ]);
    expect(done.plan.find((a) => a.step === 'scale_target')?.description).toMatch(/desired 3/);
    expect(done.stages.map((s) => s.status)).toEqual([
      'succeeded',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(fs.existsSync(store.file('web'))).toBe(false); // not even the lock was written
  });

  it('web: planned failover runs all six stages after approval, then fails back', async () => {
    const h = await startFailover(
      env.client,
      taskQueue,
      failoverInput('web', groups.web, { reason: 'region maintenance' }),
    );
    await waitForStatus(h, ['awaiting_approval']);
    await h.signal(approveSignal, { by: 'bob', roles: ['approver'] }); // bots and the CLI approve by signal
    const done = await h.result();
    expect(done.status).toBe('succeeded');
    expect(done.stages.map((s) => [s.name, s.status])).toEqual(FAILOVER_STAGES.map((n) => [n, 'succeeded']));
    expect(done).toMatchObject({ from: 'primary', to: 'secondary', rpoSeconds: 0, rpoSource: 'reported', epoch: 1 });
    expect(done.rtoSeconds).toBeGreaterThan(0);
    const w = await world('web');
    expect([w.sides.primary.dnsWeight, w.sides.secondary.dnsWeight]).toEqual([0, 100]);
    expect([w.sides.primary.capacity.desired, w.sides.secondary.capacity.desired]).toEqual([0, 3]);
    expect(w.sides.secondary.db).toMatchObject({ role: 'primary', promotions: 1 });
    expect(w.global).toMatchObject({ activeSide: 'secondary', epoch: 1 });
    expect(w.global.lock).toBeUndefined();

    await recordHistory(env.address, h.workflowId, 'failover-sim-planned-approved-succeeded');

    const back = await startFailover(
      env.client,
      taskQueue,
      failoverInput('web', groups.web, {
        approvalPolicy: { required: 0, roles: [], fourEyes: false, timeoutMs: 1000 },
      }),
    );
    const fb = await back.result();
    expect(fb).toMatchObject({ status: 'succeeded', from: 'secondary', to: 'primary', epoch: 2 });
    expect((await world('web')).sides.primary.db).toMatchObject({ role: 'primary', promotions: 1 });
  });

  it('emergency: an unreachable source region is skipped best effort; RPO is the lag at promotion', async () => {
    const g = { name: 'web-emergency', cfg: groups['web-emergency'] };
    await setSimulatedFaults(store, g, { unreachable: ['primary'], replicaLagSeconds: 3 });
    const eh = await startFailover(env.client, taskQueue, failoverInput(g.name, g.cfg, { mode: 'emergency' }));
    const done = await eh.result();
    expect(done.status).toBe('succeeded');
    expect(done.stages.map((s) => s.status)).toEqual([
      'succeeded',
      'failed',
      'failed',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    expect(done.stages[2]).toMatchObject({ bestEffort: true, error: { code: 'PROVIDER_UNAVAILABLE' } });
    expect(done).toMatchObject({ rpoSeconds: 3, rpoSource: 'reported' });
    const w = await world(g.name);
    expect(w.sides.secondary).toMatchObject({ dnsWeight: 100, capacity: { desired: 2 }, db: { role: 'primary' } });
    await recordHistory(env.address, eh.workflowId, 'failover-sim-emergency-best-effort-succeeded');
  });

  it('planned: a fault injected in the world at target_activation is compensated, every compensation recorded', async () => {
    const g = { name: 'web-faulty', cfg: groups['web-faulty'] };
    await setSimulatedFaults(store, g, { failStep: { stage: 'target_activation' } });
    const done = await (await startFailover(env.client, taskQueue, failoverInput(g.name, g.cfg))).result();
    expect(done.status).toBe('rolled_back');
    // The source serves again (replica, database, capacity) before traffic returns; the target is released last.
    expect(done.compensations.map((c) => [c.name, c.status])).toEqual([
      ['reattach_replica', 'succeeded'],
      ['unfence_source_database', 'succeeded'],
      ['restore_source_capacity', 'succeeded'],
      ['restore_traffic', 'succeeded'],
      ['restore_target_capacity', 'succeeded'],
    ]);
    const w = await world(g.name);
    expect([w.sides.primary.dnsWeight, w.sides.primary.capacity.desired, w.sides.secondary.capacity.desired]).toEqual([
      100, 2, 0,
    ]);
    expect(w.sides.primary.db.fencedBy).toBeUndefined();
    expect(w.sides.secondary.db.role).toBe('replica');
    expect(done.manualSteps).toBeUndefined(); // every compensation was done by API: nothing left for a human
    expect(w.global).toMatchObject({ activeSide: 'primary', epoch: 0 });
  });

  describe('HTTP routes (/api/v1/failovers), mounted as app.ts mounts the deployments router', () => {
    const app = () => {
      const config = testConfig({ failoverGroups: groups, temporal: { taskQueue } });
      const service = new FailoverService(createGateway(env.client, config.temporal).failovers, config);
      const registry = new RouteRegistry();
      const a = express();
      a.use(express.json());
      a.use('/api/v1', authenticate(tokenAuthenticator(config)));
      for (const { mount, router } of [failoversRouter(registry, service), failoverGroupsRouter(registry, service)])
        a.use(mount, router);
      a.use(errorHandler);
      return a;
    };
    const as = (user: User) => ({ Authorization: `Bearer ${TOKENS[user]}` });

    it('POST → 202, a second POST → 409, approve (roles enforced) → six succeeded stages with RTO/RPO in GET', async () => {
      const a = app();
      const created = await request(a)
        .post('/api/v1/failovers')
        .set(as('alice'))
        .send({ group: 'web-api', mode: 'planned', reason: 'drill' });
      expect(created.status).toBe(202);
      expect(created.body).toMatchObject({
        id: expect.stringMatching(/^web-api-[0-9a-f]{12}$/),
        status: 'running',
        group: 'web-api',
      });
      const id = created.body.id as string;
      await until(
        async () =>
          (await request(a).get(`/api/v1/failovers/${id}`).set(as('alice'))).body.status === 'awaiting_approval',
        'awaiting_approval',
      );

      const second = await request(a)
        .post('/api/v1/failovers')
        .set(as('alice'))
        .send({ group: 'web-api', mode: 'emergency' });
      expect(second.status).toBe(409);
      expect(second.body.error).toMatchObject({ code: 'FAILOVER_IN_PROGRESS', details: { id } });
      expect(
        (
          await request(a)
            .post('/api/v1/failovers')
            .set(as('alice'))
            .send({ group: 'web-api', mode: 'planned', dryRun: true })
        ).status,
      ).toBe(202);

      expect((await request(a).post(`/api/v1/failovers/${id}/approve`).set(as('alice')).send({})).status).toBe(403);
      const approved = await request(a).post(`/api/v1/failovers/${id}/approve`).set(as('bob')).send({ comment: 'ok' });
      expect(approved.status).toBe(200);
      expect((await request(a).post(`/api/v1/failovers/${id}/approve`).set(as('bob')).send({})).status).toBe(409);

      const done = await until(async () => {
        const r = await request(a).get(`/api/v1/failovers/${id}`).set(as('alice'));
        return r.body.status === 'succeeded' ? r.body : undefined;
      }, 'the failover to succeed');
      expect(done).toMatchObject({ id, group: 'web-api', from: 'primary', to: 'secondary', mode: 'planned' });
      expect(done.stages.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual(
        FAILOVER_STAGES.map((n) => `${n}:succeeded`),
      );
      expect(done.rtoSeconds).toBeGreaterThan(0);
      expect(done.rpoSeconds).toBe(0);
      const list = await until(async () => {
        const r = await request(a).get('/api/v1/failovers?group=web-api').set(as('alice'));
        return r.body.items?.length >= 2 ? r.body.items : undefined;
      }, 'the list to show both failovers');
      expect(list.map((f: { id: string }) => f.id)).toContain(id);
    });

    it('validates: unknown group 400, bad body 400, unknown id 404, no token 401; monitor routes', async () => {
      const a = app();
      expect(
        (await request(a).post('/api/v1/failovers').set(as('alice')).send({ group: 'nope', mode: 'planned' })).status,
      ).toBe(400);
      const bad = await request(a).post('/api/v1/failovers').set(as('alice')).send({ group: 'web', mode: 'sideways' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.issues[0].path).toBe('body.mode');
      expect((await request(a).get('/api/v1/failovers/web-000000000000').set(as('alice'))).status).toBe(404);
      expect((await request(a).get('/api/v1/failovers/junk').set(as('alice'))).status).toBe(404);
      expect((await request(a).get('/api/v1/failovers')).status).toBe(401);
      expect((await request(a).get('/api/v1/failover-groups/web/monitor').set(as('alice'))).body).toEqual({
        group: 'web',
        running: false,
      });
    });
  });

  // Probes every 200 ms in config; the dev server fires sub-second timers after about 1 s, hence the few probes below.
  describe('FailoverMonitorWorkflow (3 consecutive failed probes trigger)', () => {
    const startMonitor = (group: string) => {
      const cfg = groups[group];
      const input: FailoverMonitorInput = {
        group,
        intervalMs: parseDuration(cfg.health.every),
        failuresToTrigger: cfg.health.failuresToTrigger,
        probeTimeoutMs: parseDuration(cfg.health.timeout),
        maxProbesPerRun: 5, // small, so the test crosses continue-as-new
        failover: {
          mode: 'emergency',
          requestedBy: 'monitor',
          approvalPolicy: { required: 0, roles: [], fourEyes: false, timeoutMs: 1000 },
          healthTimeoutMs: 10_000,
        },
      };
      return env.client.workflow.start<typeof failoverMonitorWorkflow>('failoverMonitorWorkflow', {
        workflowId: failoverMonitorWorkflowId(group),
        taskQueue,
        args: [input],
        typedSearchAttributes: new TypedSearchAttributes([
          { key: KindKey, value: 'failover-monitor' },
          { key: FailoverGroupKey, value: group },
        ]),
      });
    };
    const status = (group: string) =>
      env.client.workflow.getHandle(failoverMonitorWorkflowId(group)).query(monitorStatusQuery);

    it('a flapping probe never triggers; K consecutive failures trigger exactly one failover', async () => {
      script = Array.from({ length: 40 }, (_, i) => (i % 3 === 2 ? 200 : 503)); // fail, fail, ok, ...
      served = 0;
      const flap = await startMonitor('mon-flap');
      const seen = await until(async () => {
        const s = await status('mon-flap').catch(() => undefined);
        return s && s.probes >= 9 ? s : undefined;
      }, '9 probes of a flapping endpoint (three fail-fail-ok cycles)');
      expect(seen.triggered).toEqual([]);
      expect(seen.generations).toBeGreaterThanOrEqual(1); // continued as new with the counters carried over
      expect(seen.recent.some((p) => !p.healthy)).toBe(true);
      await flap.signal(stopMonitorSignal, { by: 'test' });
      expect((await flap.result()).status).toBe('stopped');

      script = [503]; // down for good
      served = 0;
      const mon = await startMonitor('mon-down');
      const fired = await until(async () => {
        const s = await status('mon-down').catch(() => undefined);
        return s && s.triggered.length > 0 ? s : undefined;
      }, 'the monitor to trigger');
      expect(fired.triggered[0].afterFailures).toBe(3);
      const child = env.client.workflow.getHandle(fired.triggered[0].workflowId);
      const fo = (await child.result()) as Failover;
      expect(fo).toMatchObject({ status: 'succeeded', trigger: 'monitor', mode: 'emergency', group: 'mon-down' });
      expect(fo.stages.every((s) => s.status === 'succeeded')).toBe(true);
      expect(fo.rtoSeconds).toBeGreaterThan(0);

      // The endpoint stays down: more probes, still exactly one failover (re-armed only by a success).
      const after = await until(async () => {
        const s = await status('mon-down').catch(() => undefined);
        return s && s.probes >= fired.probes + 6 ? s : undefined;
      }, '6 more probes');
      expect(after.triggered).toHaveLength(1);
      expect(after.armed).toBe(false);
      await until(async () => {
        const { executions } = await env.client.workflowService.listWorkflowExecutions({
          namespace: 'default',
          query: `StrataFailoverGroup = 'mon-down' AND StrataKind = 'failover'`,
        });
        return executions.length === 1;
      }, 'visibility to list the one failover');
      expect((await child.query(failoverStatusQuery)).status).toBe('succeeded');
      await mon.cancel();
    });
  });
});
