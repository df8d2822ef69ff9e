/**
 * The stack lock's priority run queue on a real Temporal dev server: a rollback a person asks for is high
 * priority and goes ahead of normal runs waiting for the same lock, never ahead of the holder; queue positions
 * stay true; `priority: high` on a deployment is for the roles strata.yaml names.
 */
import { lockStateQuery, stackLockWorkflowId } from '../../src/contracts/lock';
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

describe('priority run queue', () => {
  const config = testConfig({
    environments: { qa: { approvals: { required: 1, timeout: '1h' } } },
    runQueue: { highPriorityRoles: ['admin'] },
  });
  const s = useStrata(config, { lockHolderCheckIntervalMs: 500 });
  const lock = () => s.env.client.workflow.getHandle(stackLockWorkflowId('sim-multicloud', 'qa')).query(lockStateQuery);
  const deploy = async (n: number) => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: n },
    });
    return id;
  };
  const approveAndFinish = async (id: string) => {
    await s.http.waitFor(id, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/approve`, {})).status).toBe(200);
    return s.http.waitFor(id, ['succeeded']);
  };

  it('runs a rollback a person asks for before two normal runs that were already waiting', async () => {
    await approveAndFinish(await deploy(1)); // version 1
    await approveAndFinish(await deploy(2)); // version 2

    const holder = await deploy(3);
    await s.http.waitFor(holder, ['awaiting_approval']);
    const b = await deploy(4);
    const c = await deploy(5);
    await eventually(async () => (await s.http.run(c)).queuePosition === 2, 'both normal runs to queue');
    expect((await s.http.run(b)).queuePosition).toBe(1);

    const res = await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/qa/rollback', {
      targetVersion: 1,
      reason: 'v2 is broken',
    });
    expect(res.status).toBe(202);
    const rollback = res.body.id as string;
    // Ahead of the normal waiters, behind the holder; every position says where each run really is.
    await eventually(async () => (await s.http.run(rollback)).queuePosition === 1, 'the rollback to queue first');
    expect(await s.http.run(rollback)).toMatchObject({ status: 'queued', priority: 'high' });
    expect((await s.http.run(b)).queuePosition).toBe(2);
    expect((await s.http.run(c)).queuePosition).toBe(3);
    const state = await lock();
    expect(state.holder?.workflowId).toBe(deploymentWorkflowId(holder));
    expect(state.queue.map((q) => [q.workflowId, q.priority])).toEqual([
      [deploymentWorkflowId(rollback), 'high'],
      [deploymentWorkflowId(b), 'normal'],
      [deploymentWorkflowId(c), 'normal'],
    ]);

    // The holder keeps the lock until it is done; then the rollback goes first.
    expect(
      (await s.http.post('bob', `/api/v1/deployments/${holder}/reject`, { reason: 'rolling back instead' })).status,
    ).toBe(200);
    await s.http.waitFor(rollback, ['awaiting_approval']);
    expect(await s.http.run(b)).toMatchObject({ status: 'queued', queuePosition: 1 });
    const rolled = await approveAndFinish(rollback);
    const nb = await approveAndFinish(b);
    const nc = await approveAndFinish(c);
    expect(Date.parse(rolled.applyCompletedAt!)).toBeLessThanOrEqual(Date.parse(nb.applyStartedAt!));
    expect(Date.parse(nb.applyCompletedAt!)).toBeLessThanOrEqual(Date.parse(nc.applyStartedAt!));
  });

  it('lets only the configured roles ask for high priority', async () => {
    const refused = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'qa',
      priority: 'high',
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('priority high');
    const ok = await s.http.post('carol', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'qa',
      priority: 'high',
      dryRun: true,
    });
    expect(ok.status).toBe(202);
    expect((await s.http.run(ok.body.id)).priority).toBe('high');
  });
});
