/**
 * The AWS implementation of the failover interface against moto: every step on real SDK calls, each one
 * idempotent, and the DynamoDB global state refusing a second lock holder.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import {
  createAwsFailoverActivities,
  answerOf,
  readRecords,
  FENCE_TAG,
  PROMOTED_TAG,
} from '../../src/activities/cloud/aws';
import {
  LockHeldError,
  type FailoverCloud,
  type GroupRef,
  type OpContext,
} from '../../src/activities/cloud/failover-cloud';
import { createFailoverActivities } from '../../src/activities/cloud/failover-activities';
import { createAwsFailoverFixture, EAST, WEST, type AwsFailoverFixture } from '../helpers/failover-fixture';
import { startMoto, type MotoServer } from '../helpers/moto';

const ctx = (failoverId: string): OpContext => ({
  failoverId,
  heartbeat: () => undefined,
  signal: new AbortController().signal,
});

describe('AWS failover activities (moto)', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  function setup(fx: AwsFailoverFixture): { cloud: FailoverCloud; g: GroupRef; promoteCalls: () => number } {
    let calls = 0;
    fx.clients.rds(WEST).middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PromoteReadReplicaCommand') calls++;
        return next(args);
      },
      { step: 'initialize', name: 'countPromotions' },
    );
    return {
      cloud: createAwsFailoverActivities({ clients: fx.clients, pollIntervalMs: 50, promotionLinkGraceMs: 0 }),
      g: { name: fx.name, cfg: fx.group },
      promoteCalls: () => calls,
    };
  }

  const capacityOf = async (fx: AwsFailoverFixture, region: string, name: string) => {
    const r = await fx.clients
      .autoScaling(region)
      .send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    return r.AutoScalingGroups![0];
  };

  it('reads readiness and capacity, and plans from them', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const { cloud, g } = setup(fx);
    const r = await cloud.readiness(g, { from: 'primary', to: 'secondary', mode: 'planned' });
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.capacity).toEqual({ primary: { min: 1, max: 6, desired: 3 }, secondary: { min: 0, max: 6, desired: 0 } });
    expect(r.checks.find((c) => c.name === 'target_replica_available')?.detail).toMatch(
      /replica of arn:aws:rds:us-east-1/,
    );
    expect(r.traffic).toContain(`east.${fx.record.slice(4)}`);

    // Through the activity layer: the plan names the real resources.
    const acts = createFailoverActivities({ groups: { [fx.name]: fx.group }, aws: () => fx.clients });
    const plan = await acts.failoverReadiness({ group: fx.name, failoverId: 'f-ready', mode: 'planned' });
    expect(plan).toMatchObject({ ready: true, from: 'primary', to: 'secondary', targetCapacity: { desired: 3 } });
    expect(plan.plan.map((a) => a.description).join('\n')).toContain(fx.asg.west);
  });

  it('a resource the configuration names but the account lacks is CONFIG_INVALID, not retried', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const group = { ...fx.group, secondary: { ...fx.group.secondary, asg: 'no-such-group' } };
    const acts = createFailoverActivities({ groups: { [fx.name]: group }, aws: () => fx.clients });
    const step = {
      group: fx.name,
      failoverId: 'f-missing',
      stage: 'target_activation' as const,
      step: 'scale_target',
      side: 'secondary' as const,
    };
    const err = await acts.failoverScale({ ...step, capacity: { min: 0, max: 3, desired: 3 } }).then(
      () => undefined,
      (e: unknown) => e as { type?: string; nonRetryable?: boolean; message?: string },
    );
    expect(err).toMatchObject({ type: 'CONFIG_INVALID', nonRetryable: true });
    expect(err?.message).toMatch(/no-such-group/);
  });

  it('global state: a conditional lock, renewals, expiry takeover, and one epoch per failover', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const { cloud, g } = setup(fx);
    expect(await cloud.readState(g)).toMatchObject({ activeSide: 'primary', epoch: 0 });
    const intent = {
      failoverId: 'a',
      from: 'primary' as const,
      to: 'secondary' as const,
      mode: 'planned' as const,
      startedAt: new Date().toISOString(),
    };
    expect((await cloud.acquireLock(g, { owner: 'a', ttlMs: 60_000, intent })).lock?.owner).toBe('a');
    await expect(cloud.acquireLock(g, { owner: 'b', ttlMs: 60_000 })).rejects.toBeInstanceOf(LockHeldError);
    expect((await cloud.acquireLock(g, { owner: 'a', ttlMs: 60_000 })).lock?.owner).toBe('a'); // renewal
    await expect(
      cloud.commit(g, {
        owner: 'b',
        entry: { failoverId: 'b', from: 'primary', to: 'secondary', mode: 'planned', completedAt: '' },
      }),
    ).rejects.toBeInstanceOf(LockHeldError);

    const entry = {
      failoverId: 'a',
      from: 'primary' as const,
      to: 'secondary' as const,
      mode: 'planned' as const,
      completedAt: new Date().toISOString(),
    };
    expect(await cloud.commit(g, { owner: 'a', entry })).toMatchObject({ activeSide: 'secondary', epoch: 1 });
    expect(await cloud.commit(g, { owner: 'a', entry })).toMatchObject({ activeSide: 'secondary', epoch: 1 }); // retried: no second increment
    expect(await cloud.releaseLock(g, 'b')).toBe(false);
    expect(await cloud.releaseLock(g, 'a')).toBe(true);
    const s = await cloud.readState(g);
    expect(s).toMatchObject({ activeSide: 'secondary', epoch: 1, lastFailoverId: 'a' });
    expect(s.lock).toBeUndefined();
    expect(s.intent).toBeUndefined();
    expect(s.history).toEqual([expect.objectContaining({ failoverId: 'a', epoch: 1 })]);

    await cloud.acquireLock(g, { owner: 'c', ttlMs: 1 });
    await new Promise((r) => setTimeout(r, 5)); // let a 1 ms lease lapse
    expect((await cloud.acquireLock(g, { owner: 'd', ttlMs: 60_000 })).lock?.owner).toBe('d'); // an expired lock is taken over
  });

  it('global state: a failover that ended part-way records its new epoch and what is left; the next commit clears it', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const { cloud, g } = setup(fx);
    const entry = (failoverId: string, from: 'primary' | 'secondary', to: 'primary' | 'secondary') => ({
      failoverId,
      from,
      to,
      mode: 'emergency' as const,
      completedAt: new Date().toISOString(),
    });
    await cloud.acquireLock(g, { owner: 'e', ttlMs: 60_000 });
    const attention = {
      failoverId: 'e',
      at: new Date().toISOString(),
      manualSteps: ['target_activation/switch_traffic'],
    };
    await cloud.commit(g, {
      owner: 'e',
      entry: { ...entry('e', 'primary', 'secondary'), incomplete: true },
      attention,
    });
    await cloud.releaseLock(g, 'e');
    const s = await cloud.readState(g);
    expect(s).toMatchObject({ activeSide: 'secondary', epoch: 1, attention });
    expect(s.history).toEqual([expect.objectContaining({ failoverId: 'e', epoch: 1, incomplete: true })]);

    await cloud.acquireLock(g, { owner: 'f', ttlMs: 60_000 });
    await cloud.commit(g, { owner: 'f', entry: entry('f', 'secondary', 'primary') });
    const after = await cloud.readState(g);
    expect(after).toMatchObject({ activeSide: 'primary', epoch: 2 });
    expect(after.attention).toBeUndefined();
  });

  it('global state: a commit is refused once the committing failover lock has expired, even if no one took it', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const { cloud, g } = setup(fx);
    await cloud.acquireLock(g, { owner: 'late', ttlMs: 1 });
    await new Promise((r) => setTimeout(r, 5)); // let a 1 ms lease lapse
    const entry = { failoverId: 'late', from: 'primary' as const, to: 'secondary' as const, mode: 'planned' as const };
    await expect(cloud.commit(g, { owner: 'late', entry: { ...entry, completedAt: '' } })).rejects.toMatchObject({
      name: 'LockExpiredError',
    });
    expect(await cloud.readState(g)).toMatchObject({ activeSide: 'primary', epoch: 0 });
  });

  it("global state: kept in the standby's region unless configured; state an older default left in the primary's is refused, not forked", async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const { cloud, g } = setup(fx);
    await cloud.acquireLock(g, { owner: 'w', ttlMs: 60_000 });
    const inWest = await fx.clients
      .dynamodb(WEST)
      .send(new GetItemCommand({ TableName: fx.table, Key: { group: { S: fx.name } }, ConsistentRead: true }));
    expect(inWest.Item?.lockOwner?.S).toBe('w');

    const old = await createAwsFailoverFixture(moto.endpoint);
    await old.clients.dynamodb(EAST).send(
      new CreateTableCommand({
        TableName: old.table,
        KeySchema: [{ AttributeName: 'group', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'group', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await old.clients.dynamodb(EAST).send(
      new PutItemCommand({
        TableName: old.table,
        Item: { group: { S: old.name }, activeSide: { S: 'secondary' }, epoch: { N: '3' } },
      }),
    );
    const { cloud: oldCloud } = setup(old);
    await expect(oldCloud.readState({ name: old.name, cfg: old.group })).rejects.toMatchObject({
      type: 'CONFIG_INVALID',
      message: expect.stringContaining(`globalStateRegion: ${EAST}`),
    });
    // Said where it is, the state is read as it was left.
    expect(await oldCloud.readState({ name: old.name, cfg: { ...old.group, globalStateRegion: EAST } })).toMatchObject({
      activeSide: 'secondary',
      epoch: 3,
    });
  });

  it('traffic: weighted records drain and switch idempotently; failover records swap roles', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const { cloud, g } = setup(fx);
    expect((await cloud.drainTraffic(g, 'primary', ctx('t'))).changed).toBe(true);
    expect((await cloud.drainTraffic(g, 'primary', ctx('t'))).changed).toBe(false);
    expect((await cloud.routeTraffic(g, 'secondary', ctx('t'))).changed).toBe(true);
    expect((await cloud.routeTraffic(g, 'secondary', ctx('t'))).changed).toBe(false);
    const r = (await readRecords(fx.clients.route53(), g))!;
    expect(answerOf(r)).toEqual({ values: [`west.${fx.record.slice(4)}`], sides: ['secondary'] });
    expect(r.records.map((x) => [x.SetIdentifier, x.Weight])).toEqual([
      ['primary', 0],
      ['secondary', 100],
    ]);

    const fo = await createAwsFailoverFixture(moto.endpoint, { routing: 'failover' });
    const f = setup(fo);
    expect((await f.cloud.drainTraffic(f.g, 'primary', ctx('t'))).changed).toBe(false);
    await f.cloud.routeTraffic(f.g, 'secondary', ctx('t'));
    const rf = (await readRecords(fo.clients.route53(), f.g))!;
    expect(rf.routing).toBe('failover');
    expect(answerOf(rf).sides).toEqual(['secondary']);
    await f.cloud.routeTraffic(f.g, 'primary', ctx('t'));
    expect(answerOf((await readRecords(fo.clients.route53(), f.g))!).sides).toEqual(['primary']);
  });

  it('capacity, fencing, health and replica promotion (exactly one PromoteReadReplica across retries)', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint, { checkpointAgeSeconds: 4 });
    const { cloud, g, promoteCalls } = setup(fx);

    expect((await cloud.scale(g, 'secondary', { min: 1, max: 6, desired: 3 }, ctx('p'))).changed).toBe(true);
    expect((await cloud.scale(g, 'secondary', { min: 1, max: 6, desired: 3 }, ctx('p'))).changed).toBe(false);
    const west = await capacityOf(fx, WEST, fx.asg.west);
    expect([west.DesiredCapacity, west.Instances?.length]).toEqual([3, 3]);
    expect(await cloud.health(g, 'secondary', ctx('p'))).toMatchObject({
      healthy: true,
      detail: expect.stringMatching(/3\/3 targets healthy/),
    });
    await cloud.scale(g, 'primary', { min: 0, max: 6, desired: 0 }, ctx('p'));
    expect((await capacityOf(fx, EAST, fx.asg.east)).DesiredCapacity).toBe(0);

    expect((await cloud.fenceDatabase(g, 'primary', true, ctx('p'))).changed).toBe(true);
    expect((await cloud.fenceDatabase(g, 'primary', true, ctx('p'))).changed).toBe(false);
    const east = (await fx.clients.rds(EAST).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: fx.db.east })))
      .DBInstances![0];
    expect(east.TagList).toContainEqual({ Key: FENCE_TAG, Value: 'p' });

    const lag = await cloud.replicationLag(g, 'secondary', ctx('p'));
    expect(lag.source).toBe('checkpoint');
    expect(lag.lagSeconds).toBeGreaterThanOrEqual(4);
    expect(lag.lagSeconds).toBeLessThan(60);

    const first = await cloud.promoteReplica(g, 'secondary', ctx('p'));
    expect(first).toMatchObject({ changed: true, alreadyPromoted: false });
    const again = await cloud.promoteReplica(g, 'secondary', ctx('p')); // a retried activity
    expect(again.changed).toBe(false);
    expect(promoteCalls()).toBe(1);
    const replica = (
      await fx.clients.rds(WEST).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: fx.db.west }))
    ).DBInstances![0];
    expect(replica.TagList?.find((t) => t.Key === PROMOTED_TAG)?.Value).toMatch(/^p@/);
    expect(await cloud.reattachReplica(g, 'secondary', 'primary', ctx('p'))).toMatchObject({ manual: true });

    expect((await cloud.fenceDatabase(g, 'primary', false, ctx('p'))).changed).toBe(true);
  });

  it('maps a held lock to FAILOVER_IN_PROGRESS and an injected failure to a non-retryable FAILOVER_STEP_FAILED', async () => {
    const fx = await createAwsFailoverFixture(moto.endpoint);
    const acts = createFailoverActivities({ groups: { [fx.name]: fx.group }, aws: () => fx.clients });
    await acts.failoverAcquireLock({ group: fx.name, failoverId: 'x', ttlMs: 60_000, stage: 'initialization' });
    await expect(
      acts.failoverAcquireLock({ group: fx.name, failoverId: 'y', ttlMs: 60_000, stage: 'initialization' }),
    ).rejects.toMatchObject({ type: 'FAILOVER_IN_PROGRESS', nonRetryable: true });
    const req = {
      group: fx.name,
      failoverId: 'x',
      stage: 'target_activation' as const,
      step: 'verify_health',
      side: 'secondary' as const,
      injectFailure: true,
    };
    await expect(acts.failoverVerifyHealth({ ...req, timeoutMs: 1000 })).rejects.toMatchObject({
      type: 'FAILOVER_STEP_FAILED',
      nonRetryable: true,
    });
    await expect(acts.failoverReadiness({ group: 'nope', failoverId: 'x', mode: 'planned' })).rejects.toMatchObject({
      type: 'FAILOVER_GROUP_NOT_FOUND',
    });
  });
});
