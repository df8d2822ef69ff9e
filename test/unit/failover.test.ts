/**
 * The failover saga (src/workflows/failover.ts and failover-stages.ts) on the time-skipping test server with
 * the cloud activities stubbed: each of the six stages failing, in planned mode (compensations in reverse,
 * rolled_back) and in emergency mode (best effort, as the code does it today). The simulated-cloud and AWS
 * suites in test/workflows prove the same saga against real state.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  FAILOVER_STAGES,
  failoverWorkflowId,
  newFailoverId,
  type Failover,
  type FailoverInput,
  type FailoverMode,
  type FailoverStageName,
} from '../../src/contracts/failover';
import type { failoverWorkflow } from '../../src/workflows/failover';
import { startTimeSkipping } from '../helpers/time-skipping';
import { startStubWorker, StubWorld, type ActivityName, type Script } from './stub-worker';

/** The calls of a failover that succeeds, in order, each with the `stage/step` it performs. */
const HAPPY: [ActivityName, string][] = [
  ['failoverReadiness', 'initialization/readiness'],
  ['failoverAcquireLock', 'initialization/acquire_lock'],
  ['failoverAcquireLock', 'source_preparation/acquire_lock'], // every later stage renews the lock
  ['failoverDrainTraffic', 'source_preparation/drain_traffic'],
  ['failoverScale', 'source_preparation/scale_source'],
  ['failoverFenceDatabase', 'demotion/fence_database'],
  ['failoverAcquireLock', 'promotion/acquire_lock'],
  ['failoverReplicationLag', 'promotion/replication_lag'],
  ['failoverPromoteReplica', 'promotion/promote_replica'],
  ['failoverAcquireLock', 'target_activation/acquire_lock'],
  ['failoverScale', 'target_activation/scale_target'],
  ['failoverRouteTraffic', 'target_activation/switch_traffic'],
  ['failoverVerifyHealth', 'target_activation/verify_health'],
  ['failoverCommit', 'completion/commit'],
  ['failoverReleaseLock', 'release'],
];
const HAPPY_PATH = HAPPY.map(([name]) => name);

/** The calls up to and including the one that performs `stageStep`. */
function callsUpTo(stageStep: string): ActivityName[] {
  return HAPPY_PATH.slice(0, HAPPY.findIndex(([, at]) => at === stageStep) + 1);
}

/** Compensations in the order each stage registers them (before the step they undo). */
const REGISTERED: Record<FailoverStageName, string[]> = {
  initialization: [],
  source_preparation: ['restore_traffic', 'restore_source_capacity'],
  demotion: ['unfence_source_database'],
  promotion: ['reattach_replica'],
  // restore_traffic (registered with the drain) also takes traffic back from the target.
  target_activation: ['restore_target_capacity'],
  completion: [],
};

/** The stage's last step: the one that fails in these tests (as fault injection defaults to it). */
const LAST_STEP: Record<FailoverStageName, string> = {
  initialization: 'acquire_lock',
  source_preparation: 'scale_source',
  demotion: 'fence_database',
  promotion: 'promote_replica',
  target_activation: 'verify_health',
  completion: 'commit',
};

/** What is registered up to and including `stage`, undone last-first. */
function reverseUpTo(stage: FailoverStageName): string[] {
  const upTo = FAILOVER_STAGES.slice(0, FAILOVER_STAGES.indexOf(stage) + 1);
  return upTo.flatMap((s) => REGISTERED[s]).reverse();
}

describe('failover saga on the time-skipping server', () => {
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

  /** Runs a failover of a fresh group (no approval required) to its end. */
  async function failover(mode: FailoverMode, script: Script = {}): Promise<{ group: string; f: Failover }> {
    const group = world.script(`web-${randomUUID().slice(0, 8)}`, script);
    const input: FailoverInput = {
      id: newFailoverId(group, randomUUID()),
      group,
      mode,
      dryRun: false,
      requestedBy: 'alice',
      trigger: 'api',
      decidedAt: new Date().toISOString(),
      approvalPolicy: { required: 0, roles: ['approver'], fourEyes: false, timeoutMs: 3600_000 },
    };
    const f = await env.client.workflow.execute<typeof failoverWorkflow>('failoverWorkflow', {
      workflowId: failoverWorkflowId(group, input.id),
      taskQueue: worker.taskQueue,
      args: [input],
    });
    return { group, f };
  }

  const stageStatus = (f: Failover) => Object.fromEntries(f.stages.map((s) => [s.name, s.status]));
  /** Each stage before `failed` succeeded, `failed` failed, the rest were skipped. */
  const stagesFailedAt = (failed: FailoverStageName) =>
    Object.fromEntries(
      FAILOVER_STAGES.map((s, i) => {
        const at = FAILOVER_STAGES.indexOf(failed);
        return [s, i < at ? 'succeeded' : i === at ? 'failed' : 'skipped'];
      }),
    );
  /** The `step` names of the calls made to undo things (compensation steps carry their own names). */
  const compensationCalls = (group: string) =>
    world
      .callsOf(group)
      .map((c) => c.input?.step as string | undefined)
      .filter((s): s is string => Boolean(s && Object.values(REGISTERED).flat().includes(s)));

  test('planned: all six stages succeed → succeeded, RTO and RPO measured, the lock released', async () => {
    const { group, f } = await failover('planned');
    expect(f.status).toBe('succeeded');
    expect(stageStatus(f)).toEqual(Object.fromEntries(FAILOVER_STAGES.map((s) => [s, 'succeeded'])));
    expect(f).toMatchObject({ from: 'primary', to: 'secondary', epoch: 5, rpoSeconds: 2, compensations: [] });
    expect(f.rtoSeconds).toEqual(expect.any(Number));
    expect(world.names(group)).toEqual(HAPPY_PATH);
  });

  describe('planned mode: a stage fails → the steps before it are undone in reverse', () => {
    test('initialization (the global lock is not taken) → failed, nothing to undo', async () => {
      const { group, f } = await failover('planned', { failSteps: ['initialization/acquire_lock'] });
      expect(f.status).toBe('failed');
      expect(f.error?.code).toBe('FAILOVER_STEP_FAILED');
      expect(stageStatus(f)).toEqual(stagesFailedAt('initialization'));
      expect(f.compensations).toEqual([]);
      expect(world.names(group)).toEqual([...callsUpTo('initialization/acquire_lock'), 'failoverReleaseLock']);
    });

    test.each(FAILOVER_STAGES.slice(1))('%s → rolled_back, every earlier step undone', async (stage) => {
      const { group, f } = await failover('planned', { failSteps: [`${stage}/${LAST_STEP[stage]}`] });
      expect(f.status).toBe('rolled_back');
      expect(f.error?.code).toBe('FAILOVER_STEP_FAILED');
      expect(stageStatus(f)).toEqual(stagesFailedAt(stage));
      expect(f.compensations.every((c) => c.status === 'succeeded')).toBe(true);
      // Which compensations ran (their order is asserted below).
      expect(f.compensations.map((c) => c.name).sort()).toEqual(reverseUpTo(stage).sort());
      expect(compensationCalls(group).sort()).toEqual(reverseUpTo(stage).sort());
      // Nothing after the failed step ran; then the compensations, then the lock is released.
      const forward = callsUpTo(`${stage}/${LAST_STEP[stage]}`);
      const calls = world.names(group);
      expect(calls.slice(0, forward.length)).toEqual(forward);
      expect(calls.slice(forward.length, -1)).toHaveLength(f.compensations.length);
      expect(calls[calls.length - 1]).toBe('failoverReleaseLock');
    });

    test.each(['source_preparation', 'demotion', 'promotion'] as const)(
      '%s → compensations run in exact reverse order',
      async (stage) => {
        const { group, f } = await failover('planned', { failSteps: [`${stage}/${LAST_STEP[stage]}`] });
        expect(f.compensations.map((c) => c.name)).toEqual(reverseUpTo(stage));
        expect(compensationCalls(group)).toEqual(reverseUpTo(stage));
        // The source gets back the capacity it had, and traffic.
        const restore = world.callsOf(group, 'failoverScale').find((c) => c.input.step === 'restore_source_capacity');
        expect(restore?.input).toMatchObject({ side: 'primary', capacity: { min: 1, max: 3, desired: 3 } });
      },
    );

    // Strict reverse order would route traffic back to the source while it is still scaled to zero and its
    // database fenced. The source must serve again (target reattached as its replica, source unfenced, capacity
    // restored) before traffic returns to it, and the target shrinks only after traffic has left it.
    test.each(['target_activation', 'completion'] as const)(
      '%s → traffic returns to the source only once it can serve',
      async (stage) => {
        const { f } = await failover('planned', { failSteps: [`${stage}/${LAST_STEP[stage]}`] });
        const order = f.compensations.map((c) => c.name);
        const at = (name: string) => order.indexOf(name);
        const firstTrafficBack = Math.min(...['route_traffic_back', 'restore_traffic'].map(at).filter((i) => i >= 0));
        expect(at('reattach_replica')).toBeLessThan(at('unfence_source_database'));
        expect(at('unfence_source_database')).toBeLessThan(firstTrafficBack);
        expect(at('restore_source_capacity')).toBeLessThan(firstTrafficBack);
        expect(firstTrafficBack).toBeLessThan(at('restore_target_capacity'));
      },
    );

    test('a compensation that fails is reported, the others still run → failed', async () => {
      const { f } = await failover('planned', {
        failSteps: ['promotion/promote_replica', 'demotion/unfence_source_database'],
      });
      expect(f.status).toBe('failed');
      expect(f.compensations.map((c) => [c.name, c.status])).toEqual([
        ['reattach_replica', 'succeeded'],
        ['unfence_source_database', 'failed'],
        ['restore_source_capacity', 'succeeded'],
        ['restore_traffic', 'succeeded'],
      ]);
      expect(f.compensations[1].error?.code).toBe('FAILOVER_STEP_FAILED');
    });
  });

  describe('emergency mode: best effort on the source, no compensation', () => {
    test.each(['target_activation', 'completion'] as const)(
      '%s fails after the promotion → needs_attention: nothing undone, what an operator must finish is listed',
      async (stage) => {
        const { group, f } = await failover('emergency', { failSteps: [`${stage}/${LAST_STEP[stage]}`] });
        expect(f.status).toBe('needs_attention');
        expect(f.error?.code).toBe('FAILOVER_STEP_FAILED');
        expect(stageStatus(f)).toEqual(stagesFailedAt(stage));
        expect(f.compensations).toEqual([]);
        expect(compensationCalls(group)).toEqual([]);
        // The promoted target is recorded in global state (or, if that commit fails too, listed as a manual step).
        expect(world.names(group)).toContain('failoverCommit');
        expect(f.manualSteps).toEqual(expect.any(Array));
        if (stage === 'completion') expect(f.manualSteps!.join('\n')).toMatch(/completion\/commit/);
        expect(world.names(group)).toContain('failoverReleaseLock');
      },
    );

    test.each(['initialization', 'promotion'] as const)(
      '%s fails → failed, nothing undone (the source is presumed gone)',
      async (stage) => {
        const { group, f } = await failover('emergency', { failSteps: [`${stage}/${LAST_STEP[stage]}`] });
        expect(f.status).toBe('failed');
        expect(f.error?.code).toBe('FAILOVER_STEP_FAILED');
        expect(stageStatus(f)).toEqual(stagesFailedAt(stage));
        expect(f.compensations).toEqual([]);
        expect(compensationCalls(group)).toEqual([]);
        expect(f.events.map((e) => e.message)).toContainEqual(
          expect.stringMatching(/^emergency mode: no compensation/),
        );
        // Nothing after the failed step ran, nothing was undone, and the lock is released.
        expect(world.names(group)).toEqual([...callsUpTo(`${stage}/${LAST_STEP[stage]}`), 'failoverReleaseLock']);
      },
    );

    test.each(['source_preparation', 'demotion'] as const)(
      '%s fails on the source → recorded best effort, the failover goes on → succeeded',
      async (stage) => {
        const { group, f } = await failover('emergency', { failSteps: [`${stage}/${LAST_STEP[stage]}`] });
        expect(f.status).toBe('succeeded');
        const failed = f.stages.find((s) => s.name === stage)!;
        expect(failed).toMatchObject({ status: 'failed', bestEffort: true, error: { code: 'FAILOVER_STEP_FAILED' } });
        expect(f.stages.filter((s) => s.name !== stage).every((s) => s.status === 'succeeded')).toBe(true);
        expect(f.compensations).toEqual([]);
        // One attempt only (the scripted failure is non-retryable), and every later step still ran.
        expect(world.names(group)).toEqual(HAPPY_PATH);
      },
    );
  });
});
