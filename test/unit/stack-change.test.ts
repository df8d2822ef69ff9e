/**
 * Every branch of the stack-change saga (src/workflows/stack-change.ts behind deploymentWorkflow,
 * rollbackWorkflow and destroyWorkflow) on the time-skipping test server, with the IaC and notification
 * activities stubbed and the stack-lock workflow running for real. Outcomes are asserted together with the
 * activities that were (and were not) called; the real-tool suites in test/workflows prove the integration.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { approveSignal, approveUpdate, rejectUpdate, type ApprovalPolicy } from '../../src/contracts/approval';
import { lockStateQuery, stackLockWorkflowId } from '../../src/contracts/lock';
import {
  deploymentWorkflowId,
  statusQuery,
  type Deployment,
  type DeploymentInput,
  type DeploymentStatus,
  type RunKind,
} from '../../src/contracts/runs';
import type { deploymentWorkflow } from '../../src/workflows/deployment';
import { poll } from '../helpers/poll';
import { startTimeSkipping } from '../helpers/time-skipping';
import { startStubWorker, StubWorld, type ActivityName, type Script } from './stub-worker';

const HOUR = 3600_000;
const POLICIES: Record<'dev' | 'prod', ApprovalPolicy> = {
  dev: { required: 0, roles: ['approver'], fourEyes: false, timeoutMs: 72 * HOUR },
  prod: { required: 2, roles: ['approver'], fourEyes: true, timeoutMs: 72 * HOUR },
};
const WORKFLOW_OF: Record<RunKind, string> = {
  deploy: 'deploymentWorkflow',
  rollback: 'rollbackWorkflow',
  destroy: 'destroyWorkflow',
};
const APPROVER = { roles: ['approver', 'viewer'] };

/** What a run's activity sequence is when everything goes well, up to the plan. */
const UP_TO_PLAN: ActivityName[] = ['requestStackLock', 'latestVersion', 'prepareRun', 'planRun'];

describe('stack-change saga (deployment, rollback, destroy) on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Awaited<ReturnType<typeof startStubWorker>>;
  const world = new StubWorld();

  beforeAll(async () => {
    env = await startTimeSkipping();
    worker = await startStubWorker(env, world);
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  interface Run {
    id: string;
    stack: string;
    h: WorkflowHandle<typeof deploymentWorkflow>;
  }

  /** Starts a run the way the API does (input resolved up front), on `stack` or a fresh stack with `script`. */
  async function start(
    opts: {
      kind?: RunKind;
      env?: 'dev' | 'prod';
      stack?: string;
      script?: Script;
      dryRun?: boolean;
      autoRollback?: boolean;
      targetVersion?: number;
      executor?: DeploymentInput['executor'];
    } = {},
  ): Promise<Run> {
    const kind = opts.kind ?? 'deploy';
    const stack = opts.stack ?? world.script(`stack-${randomUUID().slice(0, 8)}`, opts.script);
    const environment = opts.env ?? 'dev';
    const id = `${kind[0]}-${randomUUID()}`;
    const input: DeploymentInput = {
      id,
      kind,
      stack,
      environment,
      requestedBy: 'alice',
      variables: { instance_count: 2 },
      dryRun: opts.dryRun ?? false,
      targetVersion: opts.targetVersion,
      approvalPolicy: POLICIES[environment],
      autoRollback: opts.autoRollback ?? true,
      verify: [{ type: 'output', output: 'url' }],
      createdAt: new Date().toISOString(),
      executor: opts.executor,
    };
    const h = await env.client.workflow.start<typeof deploymentWorkflow>(WORKFLOW_OF[kind], {
      workflowId: deploymentWorkflowId(id),
      taskQueue: worker.taskQueue,
      args: [input],
    });
    return { id, stack, h };
  }

  /** Polls the status query (no time is skipped meanwhile: only awaiting a result skips). */
  async function reach(r: Run, status: DeploymentStatus): Promise<Deployment> {
    let last: Deployment | undefined;
    return poll(
      async () => {
        last = await r.h.query(statusQuery);
        return last.status === status && last;
      },
      { what: () => `run ${r.id} to reach ${status} (still ${last?.status})`, timeoutMs: 10_000, everyMs: 20 },
    );
  }

  /**
   * Waits until the run awaits approval with its gate open. The status alone is not enough today: it is
   * published before the notification goes out, and the gate opens only after it (see the test.failing below).
   */
  async function gateOpen(r: Run): Promise<Deployment> {
    let last: Deployment | undefined;
    return poll(
      async () => {
        last = await r.h.query(statusQuery);
        return last.status === 'awaiting_approval' && last.approvalExpiresAt !== undefined && last;
      },
      { what: () => `run ${r.id} to open its approval gate (still ${last?.status})`, timeoutMs: 10_000, everyMs: 20 },
    );
  }

  /** Waits until the stub of `name` has been entered for the run's stack (e.g. a blocking apply is running). */
  async function entered(r: Run, name: ActivityName): Promise<void> {
    await poll(() => world.callsOf(r.stack, name).length > 0, {
      what: `${name} to be called`,
      timeoutMs: 10_000,
      everyMs: 10,
    });
  }

  /** The local activities a run's history records, in order (one marker each). */
  async function localActivityNames(r: Run): Promise<string[]> {
    const history = await r.h.fetchHistory();
    return (history.events ?? []).flatMap((e) => {
      const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
      if (!data) return [];
      const marker = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string };
      return marker.activity_type ? [marker.activity_type] : [];
    });
  }

  /** The lock is free: its workflow has no holder and no queue, or it has ended (it only ends when idle). */
  async function expectLockFree(stack: string, environment = 'dev'): Promise<void> {
    const lock = env.client.workflow.getHandle(stackLockWorkflowId(stack, environment));
    await poll(
      async () => {
        if ((await lock.describe()).status.name !== 'RUNNING') return true;
        const s = await lock.query(lockStateQuery);
        return !s.holder && s.queue.length === 0;
      },
      { what: `the lock of ${stack}/${environment} to be free`, timeoutMs: 10_000, everyMs: 20 },
    );
    // And the next run really gets it.
    world.script(stack, {});
    const next = await start({ stack, env: environment as 'dev' | 'prod' });
    if (environment === 'prod') {
      await gateOpen(next);
      await next.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', ...APPROVER }] });
      await next.h.executeUpdate(approveUpdate, { args: [{ by: 'dave', ...APPROVER }] });
    }
    expect((await next.h.result()).status).toBe('succeeded');
  }

  /** The ApplicationFailure an Update was refused with. */
  async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  }

  test('dev (no approvals required): auto-approved, applied, verified and recorded → succeeded', async () => {
    const r = await start();
    const d = await r.h.result();
    expect(d.status).toBe('succeeded');
    expect(d).toMatchObject({ approvals: [], approvalsRequired: 0, stateVersion: 1, plan: { add: 1, risk: 'low' } });
    expect(d.outputs).toEqual({ url: `https://${r.stack}.example` });
    expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'applyRun', 'verifyRun', 'recordVersion']);
    // Exactly the plan that was made is applied and recorded.
    const [planned] = world.callsOf(r.stack, 'planRun');
    const [applied] = world.callsOf(r.stack, 'applyRun');
    expect(applied.input.plan.planHash).toBe(d.plan!.planHash);
    expect(world.callsOf(r.stack, 'recordVersion')[0].input).toMatchObject({
      kind: 'deploy',
      plan: { planHash: d.plan!.planHash },
    });
    expect(planned.input.destroy).toBe(false);
    await expectLockFree(r.stack);
  });

  test('prod (2 approvals, four-eyes): the requester is refused, two other approvers approve → succeeded', async () => {
    const r = await start({ env: 'prod' });
    const waiting = await gateOpen(r);
    expect(waiting.approvalsRequired).toBe(2);
    await entered(r, 'notifyApprovalNeeded');
    expect(world.callsOf(r.stack, 'notifyApprovalNeeded').map((c) => c.input)).toEqual([
      expect.objectContaining({ runId: r.id, approvalsRequired: 2, requestedBy: 'alice' }),
    ]);

    const own = await refusal(
      r.h.executeUpdate(approveUpdate, { args: [{ by: 'alice', roles: ['deployer', 'approver'] }] }),
    );
    expect(own.type).toBe('FORBIDDEN');
    expect(own.message).toMatch(/four-eyes/);

    const planHash = waiting.plan!.planHash;
    const first = await r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', planHash, ...APPROVER }] });
    expect(first).toMatchObject({ state: 'pending', approvals: [{ by: 'bob', planHash }] });
    expect(world.callsOf(r.stack, 'applyRun')).toHaveLength(0);
    // The second approval arrives as a Signal, as a Slack bot or `temporal workflow signal` sends it.
    await r.h.signal(approveSignal, { by: 'dave', planHash, ...APPROVER });

    const d = await r.h.result();
    expect(d.status).toBe('succeeded');
    expect(d.approvals.map((a) => [a.by, a.via, a.planHash])).toEqual([
      ['bob', 'update', planHash],
      ['dave', 'signal', planHash],
    ]);
    expect(world.names(r.stack)).toEqual([
      ...UP_TO_PLAN,
      'notifyApprovalNeeded',
      'applyRun',
      'verifyRun',
      'recordVersion',
    ]);
    expect(world.callsOf(r.stack, 'applyRun')[0].input.plan.planHash).toBe(planHash);
    await expectLockFree(r.stack, 'prod');
  });

  // The API answers a decision from the Update alone (no status query after it), so the Update's answer must be
  // the run as the decision left it: still waiting after the first of two approvals, applying after the last.
  test('approve and reject Updates answer with the run document as the decision left it', async () => {
    const r = await start({ env: 'prod' });
    await gateOpen(r);
    const first = await r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', ...APPROVER }] });
    expect(first.run).toMatchObject({ id: r.id, status: 'awaiting_approval', approvals: [{ by: 'bob' }] });
    const last = await r.h.executeUpdate(approveUpdate, { args: [{ by: 'dave', ...APPROVER }] });
    expect(last).toMatchObject({ state: 'approved' });
    expect(last.run).toMatchObject({ status: 'applying', approvals: [{ by: 'bob' }, { by: 'dave' }] });
    expect((await r.h.result()).status).toBe('succeeded');

    const other = await start({ env: 'prod' });
    await gateOpen(other);
    const rejected = await other.h.executeUpdate(rejectUpdate, { args: [{ by: 'dave', reason: 'no', ...APPROVER }] });
    expect(rejected.run).toMatchObject({ status: 'rejected', rejection: { by: 'dave' } });
    expect((await other.h.result()).status).toBe('rejected');
  });

  test('the gate refuses a stale plan hash, a duplicate approver and a caller without an approver role', async () => {
    const r = await start({ env: 'prod' });
    const waiting = await gateOpen(r);
    const stale = await refusal(
      r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', planHash: 'not-this-plan', ...APPROVER }] }),
    );
    expect(stale.type).toBe('APPROVAL_PLAN_MISMATCH');
    await r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', planHash: waiting.plan!.planHash, ...APPROVER }] });
    expect((await refusal(r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', ...APPROVER }] }))).type).toBe(
      'DUPLICATE_APPROVER',
    );
    expect((await refusal(r.h.executeUpdate(approveUpdate, { args: [{ by: 'eve', roles: ['viewer'] }] }))).type).toBe(
      'FORBIDDEN',
    );
    expect((await r.h.query(statusQuery)).approvals.map((a) => a.by)).toEqual(['bob']);
    await r.h.executeUpdate(rejectUpdate, { args: [{ by: 'dave', ...APPROVER }] });
    expect((await r.h.result()).status).toBe('rejected');
  });

  test('a rejection ends the run rejected and nothing is applied', async () => {
    const r = await start({ env: 'prod' });
    await gateOpen(r);
    const view = await r.h.executeUpdate(rejectUpdate, {
      args: [{ by: 'bob', reason: 'not during the freeze', ...APPROVER }],
    });
    expect(view.state).toBe('rejected');
    const d = await r.h.result();
    expect(d.status).toBe('rejected');
    expect(d.rejection).toMatchObject({ by: 'bob', reason: 'not during the freeze' });
    expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'notifyApprovalNeeded']);
    await expectLockFree(r.stack, 'prod');
  });

  test('no decision within 72 h → expired, in well under a second of wall time', async () => {
    const r = await start({ env: 'prod' });
    const waiting = await gateOpen(r);
    const opened = Date.parse(waiting.approvalExpiresAt!) - 72 * HOUR;
    const wallStart = Date.now();
    const d = await r.h.result(); // awaiting the result lets the server skip the 72 h timer
    const wallMs = Date.now() - wallStart;
    expect(d.status).toBe('expired');
    expect(d.error).toEqual({ code: 'APPROVAL_EXPIRED', message: expect.any(String) });
    // The workflow clock really moved 72 h past the opening of the window; the test did not wait for it.
    expect(Date.parse(d.completedAt!) - opened).toBeGreaterThanOrEqual(72 * HOUR);
    expect(wallMs).toBeLessThan(5_000);
    await expect(r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', ...APPROVER }] })).rejects.toThrow();
    expect(world.callsOf(r.stack, 'applyRun')).toHaveLength(0);
    await expectLockFree(r.stack, 'prod');
  });

  describe('cancel in each state → cancelled, the lock released', () => {
    test('queued behind another run: leaves the queue, the holder keeps the lock', async () => {
      const holder = await start({ env: 'prod' });
      await gateOpen(holder);
      const queued = await start({ env: 'prod', stack: holder.stack });
      await reach(queued, 'queued');
      const lock = env.client.workflow.getHandle(stackLockWorkflowId(holder.stack, 'prod'));
      await poll(async () => (await lock.query(lockStateQuery)).queue.length === 1, {
        what: 'the second run to be queued',
        everyMs: 20,
      });

      await queued.h.cancel();
      // Polled, not awaited as a result: awaiting would let the server skip the holder's 72 h window.
      const d = await reach(queued, 'cancelled');
      expect(d.status).toBe('cancelled');
      expect(d.error?.code).toBe('CANCELLED');
      const state = await lock.query(lockStateQuery);
      expect(state.holder?.workflowId).toBe(deploymentWorkflowId(holder.id));
      expect(state.queue).toEqual([]);
      // The queued run planned nothing: its only call was the lock request.
      expect(world.callsOf(holder.stack, 'planRun')).toHaveLength(1);
      expect(world.callsOf(holder.stack, 'requestStackLock')).toHaveLength(2);

      await holder.h.executeUpdate(rejectUpdate, { args: [{ by: 'bob', ...APPROVER }] });
      expect((await holder.h.result()).status).toBe('rejected');
      await expectLockFree(holder.stack, 'prod');
    });

    test('planning: the plan activity is cancelled, nothing is applied', async () => {
      const r = await start({ script: { block: ['planRun'] } });
      await entered(r, 'planRun');
      expect((await r.h.query(statusQuery)).status).toBe('planning');
      await r.h.cancel();
      const d = await r.h.result();
      expect(d.status).toBe('cancelled');
      expect(d.events.map((e) => e.message)).toContain('cancelled while planning');
      expect(world.names(r.stack)).toEqual(UP_TO_PLAN);
      await expectLockFree(r.stack);
    });

    test('awaiting approval: the gate closes, nothing is applied', async () => {
      const r = await start({ env: 'prod' });
      await gateOpen(r);
      await r.h.cancel();
      const d = await r.h.result();
      expect(d.status).toBe('cancelled');
      expect(d.events.map((e) => e.message)).toContain('cancelled while awaiting_approval');
      expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'notifyApprovalNeeded']);
      await expectLockFree(r.stack, 'prod');
    });

    test('applying: the apply is interrupted and reports it; nothing is recorded or rolled back', async () => {
      const r = await start({ script: { block: ['applyRun'], previous: { version: 1, kind: 'deploy' } } });
      await entered(r, 'applyRun');
      await r.h.cancel();
      const d = await r.h.result();
      expect(d.status).toBe('cancelled');
      // What the interrupted apply reported is kept as the run's error.
      expect(d.error?.code).toBe('APPLY_INTERRUPTED');
      expect(d.rollback).toBeUndefined();
      expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'applyRun']);
      await expectLockFree(r.stack);
    });
  });

  test('apply fails → automatic rollback re-applies the last good version → rolled_back', async () => {
    const r = await start({ script: { previous: { version: 3, kind: 'deploy' }, fail: { applyRun: [1] } } });
    const d = await r.h.result();
    expect(d.status).toBe('rolled_back');
    expect(d.error?.code).toBe('APPLY_FAILED');
    expect(d.rollback).toEqual({ toVersion: 3, status: 'succeeded', stateVersion: 4 });
    expect(d.stateVersion).toBe(4);
    expect(world.names(r.stack)).toEqual([
      ...UP_TO_PLAN,
      'applyRun', // fails
      'prepareRun',
      'planRun',
      'applyRun',
      'verifyRun',
      'recordVersion',
    ]);
    // The rollback is planned from version 3's configuration, without this run's variables.
    expect(world.callsOf(r.stack, 'prepareRun')[1].input.fromVersion).toBe(3);
    expect(world.callsOf(r.stack, 'planRun')[1].input.variables).toEqual({});
    expect(world.callsOf(r.stack, 'recordVersion')[0].input).toMatchObject({ kind: 'rollback', restoredFrom: 3 });
    await expectLockFree(r.stack);
  });

  // A quick executor's planning, and its verification and record, each go as one local activity: the same
  // parts in the same order (the world records them by name), one history marker each instead of three and two.
  test('a quick executor plans in one step and verifies-and-records in one: same parts, same order, fewer markers', async () => {
    const r = await start({ executor: 'simulated' });
    const d = await r.h.result();
    expect(d.status).toBe('succeeded');
    expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'applyRun', 'verifyRun', 'recordVersion']);
    expect(world.callsOf(r.stack, 'applyRun')[0].input.plan.planHash).toBe(d.plan!.planHash);
    const steps = await localActivityNames(r);
    expect(steps).toEqual(['requestStackLock', 'latestVersion', 'planSteps', 'verifyAndRecord', 'releaseStackLock']);
    await expectLockFree(r.stack);
  });

  test('a quick executor whose verification fails records nothing and rolls back', async () => {
    const r = await start({
      executor: 'simulated',
      script: { previous: { version: 2, kind: 'deploy' }, fail: { verifyRun: [1] } },
    });
    const d = await r.h.result();
    expect(d.status).toBe('rolled_back');
    expect(d.error?.code).toBe('VERIFY_FAILED');
    expect(world.callsOf(r.stack, 'recordVersion').map((c) => c.input.kind)).toEqual(['rollback']);
  });

  test('verification fails → automatic rollback → rolled_back, the failed version never recorded', async () => {
    const r = await start({ script: { previous: { version: 2, kind: 'deploy' }, fail: { verifyRun: [1] } } });
    const d = await r.h.result();
    expect(d.status).toBe('rolled_back');
    expect(d.error?.code).toBe('VERIFY_FAILED');
    expect(d.rollback).toMatchObject({ toVersion: 2, status: 'succeeded' });
    expect(world.names(r.stack)).toEqual([
      ...UP_TO_PLAN,
      'applyRun',
      'verifyRun', // fails
      'prepareRun',
      'planRun',
      'applyRun',
      'verifyRun',
      'recordVersion',
    ]);
    expect(world.callsOf(r.stack, 'recordVersion').map((c) => c.input.kind)).toEqual(['rollback']);
  });

  test('an automatic rollback with nothing to change records the version without applying', async () => {
    const r = await start({
      script: { previous: { version: 2, kind: 'deploy' }, fail: { applyRun: [1] }, rollbackChanges: false },
    });
    const d = await r.h.result();
    expect(d.status).toBe('rolled_back');
    expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'applyRun', 'prepareRun', 'planRun', 'recordVersion']);
  });

  test('apply fails with no earlier version → the last good state is empty: what it created is destroyed', async () => {
    const r = await start({ script: { fail: { applyRun: [1] } } });
    const d = await r.h.result();
    expect(d.status).toBe('rolled_back');
    expect(d.error?.code).toBe('APPLY_FAILED');
    expect(d.rollback?.status).toBe('succeeded');
    // The rollback plans a destroy of what the failed apply left and applies it; nothing is re-created.
    const plans = world.callsOf(r.stack, 'planRun');
    expect(plans[plans.length - 1].input).toMatchObject({ destroy: true });
    await expectLockFree(r.stack);
  });

  test('apply fails where the environment does not roll back automatically → failed, nothing else applied', async () => {
    const r = await start({
      autoRollback: false,
      script: { previous: { version: 1, kind: 'deploy' }, fail: { applyRun: [1] } },
    });
    const d = await r.h.result();
    expect(d.status).toBe('failed');
    expect(d.rollback).toBeUndefined();
    expect(world.names(r.stack)).toEqual([...UP_TO_PLAN, 'applyRun']);
  });

  test('the automatic rollback fails too → failed, with the rollback failure reported', async () => {
    const r = await start({ script: { previous: { version: 1, kind: 'deploy' }, fail: { applyRun: [1, 2] } } });
    const d = await r.h.result();
    expect(d.status).toBe('failed');
    expect(d.error?.code).toBe('APPLY_FAILED');
    expect(d.rollback).toMatchObject({ toVersion: 1, status: 'failed', error: { code: 'APPLY_FAILED' } });
    expect(world.callsOf(r.stack, 'recordVersion')).toHaveLength(0);
    await expectLockFree(r.stack);
  });

  test('planning fails → failed, nothing applied, the lock released', async () => {
    const r = await start({ script: { fail: { planRun: [1] } } });
    const d = await r.h.result();
    expect(d.status).toBe('failed');
    expect(d.error?.code).toBe('PLAN_FAILED');
    expect(world.names(r.stack)).toEqual(UP_TO_PLAN);
    await expectLockFree(r.stack);
  });

  test('an empty plan → no_changes: no approval asked even in prod, nothing applied', async () => {
    const r = await start({ env: 'prod', script: { changes: false } });
    const d = await r.h.result();
    expect(d.status).toBe('no_changes');
    expect(world.names(r.stack)).toEqual(UP_TO_PLAN);
    await expectLockFree(r.stack, 'prod');
  });

  test('a dry run → planned: planned without the lock, nothing applied', async () => {
    const r = await start({ env: 'prod', dryRun: true });
    const d = await r.h.result();
    expect(d.status).toBe('planned');
    expect(d.plan).toMatchObject({ add: 1, planHash: expect.any(String) });
    expect(world.names(r.stack)).toEqual(['latestVersion', 'prepareRun', 'planRun']);
  });

  test('rollbackWorkflow re-applies version N’s recorded configuration as a new run → succeeded', async () => {
    const r = await start({ kind: 'rollback', targetVersion: 2, script: { previous: { version: 4, kind: 'deploy' } } });
    const d = await r.h.result();
    expect(d).toMatchObject({ kind: 'rollback', status: 'succeeded', targetVersion: 2, stateVersion: 5 });
    // No latestVersion: a requested rollback has no automatic rollback of its own.
    expect(world.names(r.stack)).toEqual([
      'requestStackLock',
      'prepareRun',
      'planRun',
      'applyRun',
      'verifyRun',
      'recordVersion',
    ]);
    expect(world.callsOf(r.stack, 'prepareRun')[0].input.fromVersion).toBe(2);
    expect(world.callsOf(r.stack, 'recordVersion')[0].input).toMatchObject({ kind: 'rollback', restoredFrom: 2 });
  });

  test('a failed rollbackWorkflow is not rolled back again → failed', async () => {
    const r = await start({
      kind: 'rollback',
      targetVersion: 1,
      script: { previous: { version: 2, kind: 'deploy' }, fail: { applyRun: [1] } },
    });
    const d = await r.h.result();
    expect(d.status).toBe('failed');
    expect(world.names(r.stack)).toEqual(['requestStackLock', 'prepareRun', 'planRun', 'applyRun']);
  });

  test('destroyWorkflow plans -destroy (always high risk), skips verification → succeeded with a destroy version', async () => {
    const r = await start({ kind: 'destroy', script: { previous: { version: 3, kind: 'deploy' } } });
    const d = await r.h.result();
    expect(d).toMatchObject({ kind: 'destroy', status: 'succeeded', plan: { destroy: 1, add: 0, risk: 'high' } });
    expect(world.names(r.stack)).toEqual(['requestStackLock', 'prepareRun', 'planRun', 'applyRun', 'recordVersion']);
    expect(world.callsOf(r.stack, 'planRun')[0].input.destroy).toBe(true);
    expect(world.callsOf(r.stack, 'applyRun')[0].input.plan.destroyPlan).toBe(true);
    expect(world.callsOf(r.stack, 'recordVersion')[0].input.kind).toBe('destroy');
    await expectLockFree(r.stack);
  });

  test('a destroy whose apply fails → failed, and nothing is re-created', async () => {
    const r = await start({
      kind: 'destroy',
      script: { previous: { version: 3, kind: 'deploy' }, fail: { applyRun: [1] } },
    });
    const d = await r.h.result();
    expect(d.status).toBe('failed');
    expect(d.rollback).toBeUndefined();
    expect(world.names(r.stack)).toEqual(['requestStackLock', 'prepareRun', 'planRun', 'applyRun']);
  });

  // When the last version is a destroy, the last good state is empty: the automatic rollback may only remove
  // what the failed apply created, never re-plan the destroyed configuration.
  test('a failed deploy after a destroy never re-creates the destroyed stack', async () => {
    const r = await start({ script: { previous: { version: 5, kind: 'destroy' }, fail: { applyRun: [1] } } });
    const d = await r.h.result();
    expect(['failed', 'rolled_back']).toContain(d.status);
    const afterFailure = world.callsOf(r.stack, 'applyRun').slice(1);
    expect(afterFailure.filter((c) => !c.input.plan.destroyPlan)).toEqual([]);
  });

  // Whenever the run says it awaits approval, an approval must count, even while the approvers' notification
  // is still going out.
  test('while a run shows awaiting_approval, the gate accepts approvals (notification first)', async () => {
    let notified!: () => void;
    const r = await start({ env: 'prod', script: { notifyWaitsFor: new Promise<void>((res) => (notified = res)) } });
    try {
      await entered(r, 'notifyApprovalNeeded');
      if ((await r.h.query(statusQuery)).status === 'awaiting_approval') {
        const view = await r.h.executeUpdate(approveUpdate, { args: [{ by: 'bob', ...APPROVER }] });
        expect(view.approvals.map((a) => a.by)).toEqual(['bob']);
      }
    } finally {
      // Ended by a rejection once the gate is open (the test server can lose a cancellation that follows a
      // refused Update while an activity is in flight; the saga's cancellation is covered above).
      notified();
      await gateOpen(r);
      await r.h.executeUpdate(rejectUpdate, { args: [{ by: 'dave', ...APPROVER }] });
      expect((await r.h.result()).status).toBe('rejected');
    }
  });
});
