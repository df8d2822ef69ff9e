/**
 * The per stack+environment lock: no lock stays stuck (terminated holder, force-unlock), a cancelled apply
 * releases it, and the lock workflow continues-as-new without losing its queue.
 */
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { lockStateQuery, stackLockWorkflowId } from '../../src/contracts/lock';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

describe('stack lock and run queue', () => {
  const config = testConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: false },
      qa: { approvals: { required: 1, timeout: '1h' } },
    },
  });

  const s = useStrata(config, { lockHolderCheckIntervalMs: 500, lockContinueAsNewAfterGrants: 2 });

  const lockOf = (envName: string) => s.env.client.workflow.getHandle(stackLockWorkflowId('sim-multicloud', envName));

  it('releases the lock of a holder that was terminated, and the next run proceeds', async () => {
    const a = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'qa', variables: { instance_count: 1 } });
    await s.http.waitFor(a, ['awaiting_approval']);
    const b = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'qa', variables: { instance_count: 2 } });
    expect((await s.http.waitFor(b, ['queued'])).queuePosition).toBe(1);

    await s.env.client.workflow.getHandle(deploymentWorkflowId(a)).terminate('operator pulled the plug');
    const next = await s.http.waitFor(b, ['awaiting_approval'], 30_000);
    expect(next.status).toBe('awaiting_approval');
    const state = await lockOf('qa').query(lockStateQuery);
    expect(state.holder?.workflowId).toBe(deploymentWorkflowId(b));
    expect(state.history.some((h) => h.workflowId === deploymentWorkflowId(a) && /stopped running/.test(h.reason))).toBe(true);
    // The terminated run reads as failed, with the reason.
    expect((await s.http.run(a)).status).toBe('failed');
    await s.http.post('bob', `/api/v1/deployments/${b}/reject`, { reason: 'done with this test' });
  });

  it('admins force-unlock; deployers may not', async () => {
    const a = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'qa', variables: { instance_count: 1 } });
    await s.http.waitFor(a, ['awaiting_approval']);
    expect((await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/qa/unlock')).status).toBe(403);
    const res = await s.http.post('carol', '/api/v1/stacks/sim-multicloud/environments/qa/unlock', { reason: 'stuck' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ unlocked: true, previousHolder: a });
    await eventually(async () => !(await lockOf('qa').query(lockStateQuery)).holder, 'lock to be free');
    await s.http.post('alice', `/api/v1/deployments/${a}/cancel`);
    await s.http.waitFor(a, ['cancelled']);
  });

  it('cancelling a run while it applies interrupts the apply, ends cancelled and frees the lock', async () => {
    const id = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 8, latency_ms_per_resource: 400 } });
    await s.http.waitFor(id, ['applying']);
    await eventually(async () => {
      const { body } = await s.http.get('alice', `/api/v1/deployments/${id}/logs`);
      return body.items.some((l: { resource?: string }) => l.resource?.includes('instance.web'));
    }, 'the apply to have created something');
    expect((await s.http.post('alice', `/api/v1/deployments/${id}/cancel`)).status).toBe(202);
    const d = await s.http.waitFor(id, ['cancelled']);
    expect(d.applyCompletedAt).toBeUndefined();
    const state = await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/dev/state');
    expect(state.status).toBe(404); // nothing recorded as a version: the apply never completed
    const stacks = await s.http.get('alice', '/api/v1/stacks');
    const dev = stacks.body.items.find((s: { name: string }) => s.name === 'sim-multicloud').environments.find((e: { name: string }) => e.name === 'dev');
    expect(dev.locked).toBe(false);
    // The partial apply is not lost: the next run plans against what the interrupted one created.
    const next = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 8 } });
    const done = await s.http.waitFor(next, ['succeeded']);
    expect(done.plan!.add).toBeLessThan(8 + 3);
  });

  it('continues-as-new after a few grants and keeps serving the queue', async () => {
    const first = (await lockOf('dev').describe()).runId;
    for (let i = 0; i < 3; i++) {
      const id = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 8, db_size: `db.size${i}` } });
      await s.http.waitFor(id, ['succeeded']);
    }
    const now = await lockOf('dev').describe();
    expect(now.runId).not.toBe(first);
  });
});
