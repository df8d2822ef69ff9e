/**
 * FailoverWorkflow end to end on a real Temporal dev server with the AWS activities against moto:
 * planned and emergency failovers, a failure injected in target_activation undone by compensations, a
 * concurrent failover refused by the global lock, and a worker SIGKILLed mid-promotion.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  answerOf,
  createAwsClients,
  createAwsFailoverActivities,
  readRecords,
  FENCE_TAG,
  PROMOTED_TAG,
  type AwsFailoverClients,
} from '../../src/activities/cloud/aws';
import { approveUpdate, rejectUpdate } from '../../src/contracts/approval';
import { FAILOVER_STAGES } from '../../src/contracts/failover';
import { createAwsFailoverFixture, EAST, WEST, type AwsFailoverFixture } from '../helpers/failover-fixture';
import {
  failoverInput,
  startFailover,
  startFailoverWorker,
  until,
  waitForStatus,
  type FailoverWorker,
} from '../helpers/failover-worker';
import { recordHistory } from '../helpers/histories';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';
import { startTemporal } from '../helpers/temporal';

describe('FailoverWorkflow on AWS (Temporal dev server + moto)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let worker: FailoverWorker;
  const taskQueue = `failover-${randomUUID()}`;
  const fx: Record<
    'planned' | 'emergency' | 'emergencyDefault' | 'injected' | 'concurrent' | 'split',
    AwsFailoverFixture
  > = {} as never;
  const clients: Record<string, AwsFailoverClients> = {};
  const promoteCalls: Record<string, number> = {};

  /** Counts PromoteReadReplica calls per group, on the clients the worker uses. */
  function counted(name: string, c: AwsFailoverClients): AwsFailoverClients {
    promoteCalls[name] = 0;
    c.rds(WEST).middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PromoteReadReplicaCommand') promoteCalls[name]++;
        return next(args);
      },
      { step: 'initialize', name: 'countPromotions' },
    );
    return c;
  }

  beforeAll(async () => {
    [env, moto] = await Promise.all([startTemporal(), startMoto()]);
    fx.planned = await createAwsFailoverFixture(moto.endpoint, { approvals: 1, checkpointAgeSeconds: 2 });
    fx.emergency = await createAwsFailoverFixture(moto.endpoint, {
      globalStateRegion: WEST,
      targetCapacity: 3,
      checkpointAgeSeconds: 7,
    });
    fx.emergencyDefault = await createAwsFailoverFixture(moto.endpoint, { targetCapacity: 2 });
    fx.injected = await createAwsFailoverFixture(moto.endpoint);
    fx.concurrent = await createAwsFailoverFixture(moto.endpoint, { approvals: 1 });
    fx.split = await createAwsFailoverFixture(moto.endpoint, { weights: { primary: 80, secondary: 20 } });
    for (const f of Object.values(fx)) clients[f.name] = counted(f.name, f.clients);
    // The emergency groups' source region is down: every us-east-1 call is refused at once.
    for (const f of [fx.emergency, fx.emergencyDefault]) {
      clients[f.name] = counted(
        f.name,
        createAwsClients({
          endpoint: moto.endpoint,
          credentials: MOTO_CREDENTIALS,
          regionEndpoints: { [EAST]: 'http://127.0.0.1:1' },
          maxAttempts: 1,
        }),
      );
    }
    const groups = Object.fromEntries(Object.values(fx).map((f) => [f.name, f.group]));
    worker = await startFailoverWorker(env, taskQueue, { groups, aws: (name) => clients[name] });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
    await moto?.stop();
  });

  const capacity = async (f: AwsFailoverFixture, region: string, name: string) =>
    (await f.clients.autoScaling(region).send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
      .AutoScalingGroups![0];
  const db = async (f: AwsFailoverFixture, region: string, id: string) =>
    (await f.clients.rds(region).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0];
  const dnsSides = async (f: AwsFailoverFixture) =>
    answerOf((await readRecords(f.clients.route53(), { name: f.name, cfg: f.group }))!).sides;
  const globalState = (f: AwsFailoverFixture, region = WEST) =>
    createAwsFailoverActivities({ clients: f.clients }).readState({
      name: f.name,
      cfg: { ...f.group, globalStateRegion: f.group.globalStateRegion ?? region },
    });

  it('planned: approval, six succeeded stages, standby active with capacity, replica promoted once, epoch 1, RTO/RPO', async () => {
    const f = fx.planned;
    const h = await startFailover(env.client, taskQueue, failoverInput(f.name, f.group));
    const waiting = await waitForStatus(h, ['awaiting_approval']);
    expect(waiting.stages[0]).toMatchObject({ name: 'initialization', status: 'succeeded' });
    expect(waiting).toMatchObject({
      from: 'primary',
      to: 'secondary',
      fromRegion: EAST,
      toRegion: WEST,
      approvalsRequired: 1,
    });
    expect((await globalState(f)).lock?.owner).toBe(waiting.id);
    await expect(
      h.executeUpdate(approveUpdate, { args: [{ by: 'alice', roles: ['deployer'] }] }),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/lacks an approver role/) } });
    await h.executeUpdate(approveUpdate, { args: [{ by: 'bob', roles: ['approver'], comment: 'go' }] });

    const done = await h.result();
    expect(done.status).toBe('succeeded');
    expect(done.stages.map((s) => [s.name, s.status])).toEqual(FAILOVER_STAGES.map((n) => [n, 'succeeded']));
    for (const s of done.stages) {
      expect(Date.parse(s.completedAt!)).toBeGreaterThanOrEqual(Date.parse(s.startedAt!));
      expect(s.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(done.approvals).toEqual([expect.objectContaining({ by: 'bob', comment: 'go' })]);
    expect(done.rtoSeconds).toBeGreaterThan(0);
    expect(done.rpoSource).toBe('checkpoint');
    expect(done.rpoSeconds).toBeGreaterThanOrEqual(2);
    expect(done.compensations).toEqual([]);
    expect(done.epoch).toBe(1);

    expect(await dnsSides(f)).toEqual(['secondary']);
    const west = await capacity(f, WEST, f.asg.west);
    expect([west.DesiredCapacity, west.Instances?.length]).toEqual([3, 3]);
    expect((await capacity(f, EAST, f.asg.east)).DesiredCapacity).toBe(0);
    const replica = await db(f, WEST, f.db.west);
    expect(replica.TagList?.find((t) => t.Key === PROMOTED_TAG)?.Value).toMatch(new RegExp(`^${done.id}@`));
    expect((await db(f, EAST, f.db.east)).TagList).toContainEqual({ Key: FENCE_TAG, Value: done.id });
    expect(promoteCalls[f.name]).toBe(1);
    const st = await globalState(f);
    expect(st).toMatchObject({ activeSide: 'secondary', epoch: 1, lastFailoverId: done.id });
    expect(st.lock).toBeUndefined();
    expect(st.history).toEqual([
      expect.objectContaining({ failoverId: done.id, from: 'primary', to: 'secondary', epoch: 1 }),
    ]);
  });

  it('emergency: the unreachable source is best effort and never blocks the promotion', async () => {
    const f = fx.emergency;
    const h = await startFailover(env.client, taskQueue, failoverInput(f.name, f.group, { mode: 'emergency' }));
    const done = await h.result();
    expect(done.status).toBe('succeeded');
    const byName = Object.fromEntries(done.stages.map((s) => [s.name, s]));
    expect(byName.source_preparation).toMatchObject({
      status: 'failed',
      bestEffort: true,
      error: { code: 'PROVIDER_UNAVAILABLE' },
    });
    expect(byName.demotion).toMatchObject({ status: 'failed', bestEffort: true });
    expect(byName.source_preparation.steps.find((s) => s.name === 'drain_traffic')?.status).toBe('succeeded'); // Route53 is global
    for (const n of ['initialization', 'promotion', 'target_activation', 'completion'])
      expect(byName[n].status).toBe('succeeded');
    expect(done.rpoSource).toBe('checkpoint');
    expect(done.rpoSeconds).toBeGreaterThanOrEqual(7);
    expect(await dnsSides(f)).toEqual(['secondary']);
    expect((await capacity(f, WEST, f.asg.west)).DesiredCapacity).toBe(3);
    expect(promoteCalls[f.name]).toBe(1);
    expect(await globalState(f, WEST)).toMatchObject({ activeSide: 'secondary', epoch: 1 });
  });

  it('emergency: the global state defaults to the standby region, so losing the primary region never loses it', async () => {
    const f = fx.emergencyDefault;
    expect(f.group.globalStateRegion).toBeUndefined();
    const h = await startFailover(env.client, taskQueue, failoverInput(f.name, f.group, { mode: 'emergency' }));
    const done = await h.result();
    expect(done.status).toBe('succeeded');
    expect(done.epoch).toBe(1);
    expect(await dnsSides(f)).toEqual(['secondary']);
    expect(await globalState(f, WEST)).toMatchObject({ activeSide: 'secondary', epoch: 1, lastFailoverId: done.id });
  });

  it('planned: a failure injected in target_activation is compensated in reverse and leaves the source active', async () => {
    const f = fx.injected;
    const h = await startFailover(
      env.client,
      taskQueue,
      failoverInput(f.name, f.group, { injectFailure: { stage: 'target_activation' } }),
    );
    const done = await h.result();
    expect(done.status).toBe('rolled_back');
    expect(done.error).toMatchObject({
      code: 'FAILOVER_STEP_FAILED',
      message: expect.stringMatching(/injected failure in target_activation\/verify_health/),
    });
    expect(done.stages.map((s) => s.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
      'failed',
      'skipped',
    ]);
    // The source serves again (replica, database, capacity) before traffic returns; the target is released last.
    expect(done.compensations.map((c) => [c.name, c.status])).toEqual([
      ['reattach_replica', 'manual'], // RDS cannot demote a promoted replica: reported, never hidden
      ['unfence_source_database', 'succeeded'],
      ['restore_source_capacity', 'succeeded'],
      ['restore_traffic', 'succeeded'],
      ['restore_target_capacity', 'succeeded'],
    ]);
    for (const c of done.compensations) expect(c.completedAt).toBeDefined();
    // Rolled back, but not clean: the one step only a human can do is named in the result.
    expect(done.manualSteps).toEqual([
      expect.stringMatching(new RegExp(`^promotion/reattach_replica: ${f.db.west} was promoted.*new read replica`)),
    ]);
    expect(await dnsSides(f)).toEqual(['primary']);
    const east = await capacity(f, EAST, f.asg.east);
    expect([east.MinSize, east.DesiredCapacity]).toEqual([1, 3]);
    expect((await capacity(f, WEST, f.asg.west)).DesiredCapacity).toBe(0);
    expect((await db(f, EAST, f.db.east)).TagList?.some((t) => t.Key === FENCE_TAG)).toBe(false);
    const st = await globalState(f);
    expect(st).toMatchObject({ activeSide: 'primary', epoch: 0 });
    expect(st.lock).toBeUndefined();
    await recordHistory(env.address, h.workflowId, 'failover-aws-injected-target-activation-rolled-back');
  });

  it('planned: compensations make the source serve again before traffic returns, at the weights it had', async () => {
    const f = fx.split;
    const h = await startFailover(
      env.client,
      taskQueue,
      failoverInput(f.name, f.group, { injectFailure: { stage: 'target_activation' } }),
    );
    const done = await h.result();
    expect(done.status).toBe('rolled_back');
    const names = done.compensations.map((c) => c.name);
    const trafficBack = names.findIndex((n) => n === 'restore_traffic' || n === 'route_traffic_back');
    expect(names.indexOf('restore_source_capacity')).toBeLessThan(trafficBack);
    expect(names.indexOf('unfence_source_database')).toBeLessThan(trafficBack);
    // The target keeps its capacity until traffic has left it.
    expect(names.indexOf('restore_target_capacity')).toBeGreaterThan(trafficBack);
    expect(done.compensations.filter((c) => c.status === 'failed')).toEqual([]);
    const r = (await readRecords(f.clients.route53(), { name: f.name, cfg: f.group }))!;
    expect(r.records.map((x) => [x.SetIdentifier, x.Weight])).toEqual([
      ['primary', 80],
      ['secondary', 20],
    ]);
    const east = await capacity(f, EAST, f.asg.east);
    expect([east.MinSize, east.DesiredCapacity]).toEqual([1, 3]);
  });

  it('a second failover of the same group is refused while the first holds the global lock', async () => {
    const f = fx.concurrent;
    const first = await startFailover(env.client, taskQueue, failoverInput(f.name, f.group));
    const waiting = await waitForStatus(first, ['awaiting_approval']);
    const second = await startFailover(
      env.client,
      taskQueue,
      failoverInput(f.name, f.group, { approvalPolicy: { required: 0, roles: [], fourEyes: false, timeoutMs: 1000 } }),
    );
    const refused = await second.result();
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'FAILOVER_IN_PROGRESS', message: expect.stringContaining(waiting.id) });
    expect(refused.stages[0]).toMatchObject({ name: 'initialization', status: 'failed' });
    expect(refused.compensations).toEqual([]);
    expect((await globalState(f)).lock?.owner).toBe(waiting.id); // the refused run did not release someone else's lock

    await first.executeUpdate(rejectUpdate, { args: [{ by: 'bob', roles: ['approver'], reason: 'not today' }] });
    expect((await first.result()).status).toBe('rejected');
    expect((await globalState(f)).lock).toBeUndefined();
    expect(promoteCalls[f.name]).toBe(0);
  });

  describe('worker killed mid-promotion', () => {
    let child: ChildProcess | undefined;
    afterEach(() => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    it('SIGKILL during promotion → a new worker resumes it → the failover completes with one PromoteReadReplica', async () => {
      const f = await createAwsFailoverFixture(moto.endpoint);
      const queue = `failover-kill-${randomUUID()}`;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fo-kill-'));
      const counter = path.join(dir, 'promotions');
      const marker = path.join(dir, 'promoting');
      fs.writeFileSync(counter, '');
      child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(__dirname, '..', 'helpers', 'failover-worker-process.ts')],
        {
          cwd: path.resolve(__dirname, '..', '..'),
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: env.address,
            TASK_QUEUE: queue,
            FO_GROUP_NAME: f.name,
            FO_GROUP: JSON.stringify(f.group),
            FO_COUNTER: counter,
            FO_MARKER: marker,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await until(() => out.includes('ready') || child!.exitCode !== null, 'the child worker to start', 60_000);
      expect(out).toContain('ready');

      const h = await startFailover(env.client, queue, failoverInput(f.name, f.group));
      await until(() => fs.existsSync(marker), 'the promotion to be in flight', 60_000);
      const inFlight = await waitForStatus(h, ['running']);
      expect(inFlight.stages.find((s) => s.name === 'promotion')?.status).toBe('running');
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;

      let inProcessCalls = 0;
      const c = createAwsClients({ endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
      c.rds(WEST).middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'PromoteReadReplicaCommand') inProcessCalls++;
          return next(args);
        },
        { step: 'initialize', name: 'countPromotions' },
      );
      const second = await startFailoverWorker(env, queue, { groups: { [f.name]: f.group }, aws: () => c });
      try {
        const done = await h.result();
        expect(done.status).toBe('succeeded');
        expect(done.stages.every((s) => s.status === 'succeeded')).toBe(true);
        expect(
          done.stages.find((s) => s.name === 'promotion')!.steps.find((s) => s.name === 'promote_replica')?.detail,
        ).toMatch(/resumed/);
      } finally {
        await second.stop();
      }
      expect(fs.readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
      expect(inProcessCalls).toBe(0);
      // The history shows the activity was retried (attempt ≥ 2) and scheduled once.
      const history = await h.fetchHistory();
      const events = history.events ?? [];
      const scheduled = events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'failoverPromoteReplica',
      );
      expect(scheduled).toHaveLength(1);
      const started = events.find(
        (e) =>
          e.activityTaskStartedEventAttributes &&
          Number(e.eventId) > Number(scheduled[0].eventId) &&
          e.activityTaskStartedEventAttributes.scheduledEventId?.toString() === scheduled[0].eventId?.toString(),
      );
      expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
      expect(await dnsSides(f)).toEqual(['secondary']);
    });
  });
});
