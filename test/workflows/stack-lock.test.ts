/**
 * The per stack+environment lock: no lock stays stuck (terminated holder, force-unlock), a cancelled apply
 * releases it, and the lock workflow continues-as-new without losing its queue.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { deploymentWorkflowId } from '../../src/workflows/deployment.definitions';
import { lockStateQuery, stackLockWorkflowId } from '../../src/workflows/stack-lock.definitions';
import { api } from '../helpers/api-client';
import { eventually, startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';

describe('stack lock and run queue', () => {
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker;
  const config = testConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: false },
      qa: { approvals: { required: 1, timeout: '1h' } },
    },
  });
  let http: ReturnType<typeof api>;

  beforeAll(async () => {
    env = await startTemporal();
    worker = await startWorker(env, config, { lockHolderCheckIntervalMs: 500, lockContinueAsNewAfterGrants: 2 });
    http = api(createApp({ temporal: { client: env.client }, config }));
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  const lockOf = (envName: string) => env.client.workflow.getHandle(stackLockWorkflowId('sim-multicloud', envName));

  it('releases the lock of a holder that was terminated, and the next run proceeds', async () => {
    const a = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'qa', variables: { instance_count: 1 } });
    await http.waitFor(a, ['awaiting_approval']);
    const b = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'qa', variables: { instance_count: 2 } });
    expect((await http.waitFor(b, ['queued'])).queuePosition).toBe(1);

    await env.client.workflow.getHandle(deploymentWorkflowId(a)).terminate('operator pulled the plug');
    const next = await http.waitFor(b, ['awaiting_approval'], 30_000);
    expect(next.status).toBe('awaiting_approval');
    const state = await lockOf('qa').query(lockStateQuery);
    expect(state.holder?.workflowId).toBe(deploymentWorkflowId(b));
    expect(state.history.some((h) => h.workflowId === deploymentWorkflowId(a) && /stopped running/.test(h.reason))).toBe(true);
    // The terminated run reads as failed, with the reason.
    expect((await http.run(a)).status).toBe('failed');
    await http.post('bob', `/api/v1/deployments/${b}/reject`, { reason: 'done with this test' });
  });

  it('admins force-unlock; deployers may not', async () => {
    const a = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'qa', variables: { instance_count: 1 } });
    await http.waitFor(a, ['awaiting_approval']);
    expect((await http.post('alice', '/api/v1/stacks/sim-multicloud/environments/qa/unlock')).status).toBe(403);
    const res = await http.post('carol', '/api/v1/stacks/sim-multicloud/environments/qa/unlock', { reason: 'stuck' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ unlocked: true, previousHolder: a });
    await eventually(async () => !(await lockOf('qa').query(lockStateQuery)).holder, 'lock to be free');
    await http.post('alice', `/api/v1/deployments/${a}/cancel`);
    await http.waitFor(a, ['cancelled']);
  });

  it('cancelling a run while it applies interrupts the apply, ends cancelled and frees the lock', async () => {
    const id = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 8, latency_ms_per_resource: 400 } });
    await http.waitFor(id, ['applying']);
    await eventually(async () => {
      const { body } = await http.get('alice', `/api/v1/deployments/${id}/logs`);
      return body.items.some((l: { resource?: string }) => l.resource?.includes('instance.web'));
    }, 'the apply to have created something');
    expect((await http.post('alice', `/api/v1/deployments/${id}/cancel`)).status).toBe(202);
    const d = await http.waitFor(id, ['cancelled']);
    expect(d.applyCompletedAt).toBeUndefined();
    const state = await http.get('alice', '/api/v1/stacks/sim-multicloud/environments/dev/state');
    expect(state.status).toBe(404); // nothing recorded as a version: the apply never completed
    const stacks = await http.get('alice', '/api/v1/stacks');
    const dev = stacks.body.items.find((s: { name: string }) => s.name === 'sim-multicloud').environments.find((e: { name: string }) => e.name === 'dev');
    expect(dev.locked).toBe(false);
    // The partial apply is not lost: the next run plans against what the interrupted one created.
    const next = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 8 } });
    const done = await http.waitFor(next, ['succeeded']);
    expect(done.plan!.add).toBeLessThan(8 + 3);
  });

  it('continues-as-new after a few grants and keeps serving the queue', async () => {
    const first = (await lockOf('dev').describe()).runId;
    for (let i = 0; i < 3; i++) {
      const id = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 8, db_size: `db.size${i}` } });
      await http.waitFor(id, ['succeeded']);
    }
    const now = await lockOf('dev').describe();
    expect(now.runId).not.toBe(first);
  });
});
