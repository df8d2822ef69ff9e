/**
 * The per stack+environment lock: no lock stays stuck (terminated holder, force-unlock), a cancelled apply
 * releases it, and the lock workflow continues-as-new without losing its queue. Never two holders: a stale
 * force-unlock frees nobody, a lock workflow that vanishes comes back with its holder and queue in order, and
 * a failing holder check never fails the lock workflow.
 */
import { createGateway } from '../../src/client';
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createTemporalActivities } from '../../src/activities/temporal';
import { deploymentWorkflowId, type Deployment } from '../../src/contracts/runs';
import { forceUnlockSignal, lockStateQuery, stackLockWorkflowId } from '../../src/contracts/lock';
import { api } from '../helpers/api-client';
import { recordHistory } from '../helpers/histories';
import { createApp } from '../../src/api/app';
import { buildActivities } from '../../src/worker/create-worker';
import { eventually, runWorker, testConfig, useStrata } from '../helpers/temporal';

describe('stack lock and run queue', () => {
  const config = testConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: false },
      qa: { approvals: { required: 1, timeout: '1h' } },
      uat: { approvals: { required: 1, timeout: '1h' } },
      sit: { approvals: { required: 1, timeout: '1h' } },
    },
  });

  const s = useStrata(config, { lockHolderCheckIntervalMs: 500, lockContinueAsNewAfterGrants: 2 });

  const lockOf = (envName: string) => s.env.client.workflow.getHandle(stackLockWorkflowId('sim-multicloud', envName));

  it('releases the lock of a holder that was terminated, and the next run proceeds', async () => {
    const a = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(a, ['awaiting_approval']);
    const b = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 2 },
    });
    expect((await s.http.waitFor(b, ['queued'])).queuePosition).toBe(1);

    await s.env.client.workflow.getHandle(deploymentWorkflowId(a)).terminate('operator pulled the plug');
    const next = await s.http.waitFor(b, ['awaiting_approval'], 30_000);
    expect(next.status).toBe('awaiting_approval');
    const state = await lockOf('qa').query(lockStateQuery);
    expect(state.holder?.workflowId).toBe(deploymentWorkflowId(b));
    expect(
      state.history.some((h) => h.workflowId === deploymentWorkflowId(a) && /stopped running/.test(h.reason)),
    ).toBe(true);
    // The terminated run reads as failed, with the reason.
    expect((await s.http.run(a)).status).toBe('failed');
    await s.http.post('bob', `/api/v1/deployments/${b}/reject`, { reason: 'done with this test' });
  });

  it('admins force-unlock; deployers may not', async () => {
    const a = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(a, ['awaiting_approval']);
    expect((await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/qa/unlock')).status).toBe(403);
    const res = await s.http.post('carol', '/api/v1/stacks/sim-multicloud/environments/qa/unlock', { reason: 'stuck' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ unlocked: true, previousHolder: a });
    await eventually(async () => !(await lockOf('qa').query(lockStateQuery)).holder, 'lock to be free');
    await s.http.post('alice', `/api/v1/deployments/${a}/cancel`);
    await s.http.waitFor(a, ['cancelled']);
  });

  it('a stale force-unlock naming an earlier holder does not release the current one', async () => {
    const a = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(a, ['awaiting_approval']);
    const b = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 2 },
    });
    await s.http.waitFor(b, ['queued']);
    // An admin looks at the stuck-looking lock (held by A); meanwhile A ends and B takes the lock.
    await s.http.post('bob', `/api/v1/deployments/${a}/reject`, { reason: 'not now' });
    await s.http.waitFor(b, ['awaiting_approval']);
    // A stale intent sent straight to the lock workflow (a bot, the CLI), by workflow id and by run id.
    await lockOf('qa').signal(forceUnlockSignal, {
      by: 'carol',
      reason: 'A looked stuck',
      expectedHolder: deploymentWorkflowId(a),
    });
    await lockOf('qa').signal(forceUnlockSignal, { by: 'carol', reason: 'A looked stuck', expectedHolder: a });
    // Each refusal is on record in the lock's state (and a wrongly obeyed unlock leaves no holder).
    await eventually(async () => {
      const st = await lockOf('qa').query(lockStateQuery);
      return !st.holder || (st.refusedUnlocks ?? []).length >= 2;
    }, 'the lock to have handled both unlocks');
    expect((await lockOf('qa').query(lockStateQuery)).holder?.workflowId).toBe(deploymentWorkflowId(b));
    // Through the API: naming A is refused, and says who holds the lock.
    const stale = await s.http.post('carol', '/api/v1/stacks/sim-multicloud/environments/qa/unlock', {
      holder: a,
      reason: 'A looked stuck',
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toContain(b);
    expect((await lockOf('qa').query(lockStateQuery)).holder?.workflowId).toBe(deploymentWorkflowId(b));
    // Naming the holder that really holds it works, by run id or workflow id.
    const ok = await s.http.post('carol', '/api/v1/stacks/sim-multicloud/environments/qa/unlock', {
      holder: b,
      reason: 'really stuck',
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ unlocked: true, previousHolder: b });
    await eventually(async () => !(await lockOf('qa').query(lockStateQuery)).holder, 'lock to be free');
    await s.http.post('alice', `/api/v1/deployments/${b}/cancel`);
    await s.http.waitFor(b, ['cancelled']);
  });

  it('cancelling a run while it applies interrupts the apply, ends cancelled and frees the lock', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 8, latency_ms_per_resource: 400 },
    });
    await s.http.waitFor(id, ['applying']);
    // A created instance, not any line naming one: the plan's own lines name every instance too, and a cancel
    // sent on one of those can land before the apply has created anything.
    await eventually(async () => {
      const { body } = await s.http.get('alice', `/api/v1/deployments/${id}/logs`);
      return body.items.some(
        (l: { resource?: string; message: string }) =>
          l.resource?.includes('instance.web') && /Creation complete/.test(l.message),
      );
    }, 'the apply to have created an instance');
    expect((await s.http.post('alice', `/api/v1/deployments/${id}/cancel`)).status).toBe(202);
    const d = await s.http.waitFor(id, ['cancelled']);
    expect(d.applyCompletedAt).toBeUndefined();
    const state = await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/dev/state');
    expect(state.status).toBe(404); // nothing recorded as a version: the apply never completed
    const stacks = await s.http.get('alice', '/api/v1/stacks');
    const dev = stacks.body.items
      .find((s: { name: string }) => s.name === 'sim-multicloud')
      .environments.find((e: { name: string }) => e.name === 'dev');
    expect(dev.locked).toBe(false);
    // The partial apply is not lost: the next run plans against what the interrupted one created.
    const next = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 8 },
    });
    const done = await s.http.waitFor(next, ['succeeded']);
    // At least that instance is in the state: fewer than the 8 instances and 3 others to add.
    expect(done.plan!.add).toBeLessThan(8 + 3);
  });

  it('continues-as-new after a few grants and keeps serving the queue', async () => {
    const first = (await lockOf('dev').describe()).runId;
    for (let i = 0; i < 3; i++) {
      const id = await s.http.deploy('alice', {
        stack: 'sim-multicloud',
        environment: 'dev',
        variables: { instance_count: 8, db_size: `db.size${i}` },
      });
      await s.http.waitFor(id, ['succeeded']);
    }
    const now = await lockOf('dev').describe();
    expect(now.runId).not.toBe(first);
  });

  it('grants and releases from inside a workflow task: no signal-external command, and B still waits for A', async () => {
    const a = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'sit',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(a, ['awaiting_approval']);
    const b = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'uat',
      variables: { instance_count: 2 },
    });
    expect((await s.http.waitFor(b, ['queued'])).queuePosition).toBe(1);
    await approveAndFinish(a);
    // B was granted only after A had let go, and by the lock's local activity, not a signal-external command.
    await s.http.waitFor(b, ['awaiting_approval']);
    const [runA, lock] = await Promise.all([
      s.env.client.workflow.getHandle(deploymentWorkflowId(a)).fetchHistory(),
      lockOf('uat').fetchHistory(),
    ]);
    const signalsExternal = (h: typeof runA) =>
      (h.events ?? []).filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes).length;
    const localActivities = (h: typeof runA, type: string) =>
      (h.events ?? []).filter((e) =>
        Object.values(e.markerRecordedEventAttributes?.details ?? {}).some((p) =>
          (p.payloads ?? []).some((x) => x.data && Buffer.from(x.data).toString('utf8').includes(`"${type}"`)),
        ),
      ).length;
    expect(signalsExternal(runA)).toBe(0);
    expect(signalsExternal(lock)).toBe(0);
    expect(localActivities(runA, 'releaseStackLock')).toBeGreaterThanOrEqual(1);
    expect(localActivities(lock, 'grantStackLock')).toBeGreaterThanOrEqual(1);
    const state = await lockOf('uat').query(lockStateQuery);
    expect(state.holder?.workflowId).toBe(deploymentWorkflowId(b));
    await s.http.post('bob', `/api/v1/deployments/${b}/reject`, { reason: 'done with this test' });
  });

  /** Approves a run waiting for approval and waits until it has succeeded. */
  const approveAndFinish = async (id: string) => {
    await s.http.waitFor(id, ['awaiting_approval']);
    const res = await s.http.post('bob', `/api/v1/deployments/${id}/approve`);
    expect([res.status, res.body.error]).toEqual([200, undefined]);
    return s.http.waitFor(id, ['succeeded']);
  };

  it('a lock workflow that vanishes while A holds it and B, C wait: A keeps it, then B, C and a newcomer D in order', async () => {
    const deploy = (n: number) =>
      s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'uat', variables: { instance_count: n } });
    const a = await deploy(1);
    await s.http.waitFor(a, ['awaiting_approval']);
    const b = await deploy(2);
    await eventually(async () => (await s.http.run(b)).queuePosition === 1, 'B to queue');
    const c = await deploy(3);
    await eventually(async () => (await s.http.run(c)).queuePosition === 2, 'C to queue');

    await lockOf('uat').terminate('lock workflow lost');
    const d = await deploy(4);
    // A re-asserts itself to the fresh lock, B and C re-queue in their original order, D queues behind them.
    const ids = [a, b, c, d].map(deploymentWorkflowId);
    const lockView = async () => {
      const st = await lockOf('uat').query(lockStateQuery);
      return {
        holder: st.holder?.workflowId,
        queue: st.queue.map((q) => q.workflowId),
        recovering: Boolean(st.recovery),
      };
    };
    const expected = { holder: ids[0], queue: ids.slice(1), recovering: false };
    await eventually(
      async () => JSON.stringify(await lockView()) === JSON.stringify(expected),
      'the fresh lock to know A, B, C, D',
      30_000,
    ).catch(() => undefined);
    expect(await lockView()).toEqual(expected);
    for (const id of [b, c, d]) expect((await s.http.run(id)).status).toBe('queued');
    await recordHistory(
      s.env.address,
      stackLockWorkflowId('sim-multicloud', 'uat'),
      'stack-lock-recovered-after-vanishing',
    );

    const done: Deployment[] = [];
    for (const id of [a, b, c, d]) {
      done.push(await approveAndFinish(id));
      // Whoever is next has not started while this one ran.
      for (const later of [b, c, d].slice(done.length)) expect((await s.http.run(later)).status).toBe('queued');
    }
    for (let i = 1; i < done.length; i++) {
      expect(Date.parse(done[i - 1].applyCompletedAt!)).toBeLessThanOrEqual(Date.parse(done[i].applyStartedAt!));
    }
  });

  it('a vanished lock is re-created by its own runs, holder and queue intact, with nobody new asking', async () => {
    const a = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'uat',
      variables: { instance_count: 2 },
    });
    await s.http.waitFor(a, ['awaiting_approval']);
    const b = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'uat',
      variables: { instance_count: 3 },
    });
    await eventually(async () => (await s.http.run(b)).queuePosition === 1, 'B to queue');
    const lost = (await lockOf('uat').describe()).runId;
    await lockOf('uat').terminate('lock workflow lost');
    // Within one re-request interval (20 × the 500 ms holder check here) A or B re-creates the lock.
    await eventually(
      async () => {
        const desc = await lockOf('uat').describe();
        if (desc.runId === lost || desc.status.name !== 'RUNNING') return false;
        const st = await lockOf('uat').query(lockStateQuery);
        return (
          st.holder?.workflowId === deploymentWorkflowId(a) &&
          st.queue.map((q) => q.workflowId).join() === deploymentWorkflowId(b) &&
          !st.recovery
        );
      },
      'the lock to be back with holder A and B queued',
      30_000,
    );
    await approveAndFinish(a);
    await approveAndFinish(b);
  });

  it('keeps the lock workflow running while its holder check keeps failing', async () => {
    // A worker of its own whose liveness check talks to a namespace that does not exist: every check fails.
    const cfg = testConfig({ environments: { ops: { approvals: { required: 1, timeout: '1h' } } } });
    const broken = createTemporalActivities({
      locks: createGateway(new Client({ connection: s.env.connection, namespace: 'strata-no-such-namespace' }), {
        namespace: 'strata-no-such-namespace',
        taskQueue: cfg.temporal.taskQueue,
      }).runs,
    });
    const worker = runWorker(
      await Worker.create({
        connection: s.env.nativeConnection,
        taskQueue: cfg.temporal.taskQueue,
        workflowBundle: { codePath: process.env.STRATA_WORKFLOW_BUNDLE! },
        activities: {
          ...buildActivities({ client: s.env.client, config: cfg, lockHolderCheckIntervalMs: 300 }),
          isWorkflowRunning: broken.isWorkflowRunning,
        },
      }),
    );
    try {
      const http = api(createApp({ temporal: { client: s.env.client }, config: cfg }));
      const lock = s.env.client.workflow.getHandle(stackLockWorkflowId('sim-multicloud', 'ops'));
      const a = await http.deploy('alice', {
        stack: 'sim-multicloud',
        environment: 'ops',
        variables: { instance_count: 1 },
      });
      await http.waitFor(a, ['awaiting_approval']);
      const b = await http.deploy('alice', {
        stack: 'sim-multicloud',
        environment: 'ops',
        variables: { instance_count: 2 },
      });
      await http.waitFor(b, ['queued']);
      // A check that failed for good: a failed activity, or (holder checks run as local activities) a marker
      // recording the local activity's failure.
      const failedChecks = async () =>
        ((await lock.fetchHistory()).events ?? []).filter(
          (e) => e.activityTaskFailedEventAttributes || e.markerRecordedEventAttributes?.failure,
        ).length;
      const running = async () => (await lock.describe()).status.name === 'RUNNING';
      await eventually(
        async () => (await failedChecks()) >= 2 || !(await running()),
        'two holder checks to have failed for good',
        90_000,
      );
      expect((await lock.describe()).status.name).toBe('RUNNING');
      await recordHistory(s.env.address, lock.workflowId, 'stack-lock-holder-checks-failing');
      // And it still works: A's release passes the lock on to B.
      await http.post('bob', `/api/v1/deployments/${a}/approve`);
      await http.waitFor(a, ['succeeded']);
      await http.waitFor(b, ['awaiting_approval']);
      expect((await lock.query(lockStateQuery)).holder?.workflowId).toBe(deploymentWorkflowId(b));
      await http.post('bob', `/api/v1/deployments/${b}/reject`);
    } finally {
      await worker.stop();
    }
  });
  it('a release whose local activity keeps failing still reaches the lock (as a signal-external command)', async () => {
    // A worker of its own whose release activity always fails, and whose locks check their holders only every
    // ten minutes: B can get the lock within the test only if A's release falls back to the command.
    const cfg = testConfig({ environments: { rel: { approvals: { required: 0 }, autoRollback: false } } });
    const real = buildActivities({ client: s.env.client, config: cfg, lockHolderCheckIntervalMs: 600_000 });
    let failedReleases = 0;
    const worker = runWorker(
      await Worker.create({
        connection: s.env.nativeConnection,
        taskQueue: cfg.temporal.taskQueue,
        workflowBundle: { codePath: process.env.STRATA_WORKFLOW_BUNDLE! },
        activities: {
          ...real,
          releaseStackLock: async () => {
            failedReleases++;
            throw new Error('release refused by this test');
          },
        },
      }),
    );
    try {
      const http = api(createApp({ temporal: { client: s.env.client }, config: cfg }));
      const deploy = (n: number) =>
        http.deploy('alice', { stack: 'sim-multicloud', environment: 'rel', variables: { instance_count: n } });
      const a = await deploy(1);
      const b = await deploy(2);
      await http.waitFor(a, ['succeeded'], 60_000);
      await http.waitFor(b, ['succeeded'], 60_000);
      expect(failedReleases).toBeGreaterThanOrEqual(1);
      const runA = await s.env.client.workflow.getHandle(deploymentWorkflowId(a)).fetchHistory();
      expect(runA.events?.some((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)).toBe(true);
    } finally {
      await worker.stop();
    }
  });
});
