/**
 * A worker for the saga unit tests: the real workflow bundle, every activity a Strata worker serves, with the
 * IaC, notification and failover activities stubbed through their factories' types (a renamed or added
 * activity breaks the build here) and the Temporal activities real, so the stack-lock workflow runs for real.
 * Each stub records its calls and follows a per-stack (or per-group) script, so tests can share one worker.
 */
import { createGateway } from '../../src/client';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { createFailoverActivities } from '../../src/activities/cloud/failover-activities';
import type { IacActivities, StateVersionSummary } from '../../src/activities/iac';
import type { NotifyActivities } from '../../src/activities/notify/slack';
import type { PolicyActivities } from '../../src/activities/policy';
import type { ReleaseActivities } from '../../src/activities/release';
import { createDecisionActivities } from '../../src/activities/auth';
import { createRolloutActivities } from '../../src/activities/rollout';
import { createStepActivities } from '../../src/activities/steps';
import { createTemporalActivities, type TemporalActivities } from '../../src/activities/temporal';
import type { FailoverStageName } from '../../src/contracts/failover';
import type { PlanSummary } from '../../src/contracts/iac';
import type { StateVersionKind } from '../../src/store/state-store';
import type { buildActivities } from '../../src/worker/create-worker';
import { runWorker, type RunningWorker } from '../helpers/temporal';

/** Everything a Strata worker serves (src/worker/create-worker.ts), by name. */
export type WorkerActivities = ReturnType<typeof buildActivities>;
export type ActivityName = keyof WorkerActivities;
type FailoverActivities = ReturnType<typeof createFailoverActivities>;

/** One recorded activity call. */
export interface Call {
  name: ActivityName;
  /** The stack (IaC, lock, notify) or failover group the call was for. */
  key: string;
  input: any;
}

/** How the stubs behave for one stack (deployment saga) or one failover group. */
export interface Script {
  /** latestVersion's answer: the last good version an automatic rollback returns to (none by default). */
  previous?: { version: number; kind: StateVersionKind };
  /** Whether the run's own plan has changes (default true). */
  changes?: boolean;
  /** Whether the plan of an automatic rollback has changes (default true). */
  rollbackChanges?: boolean;
  /** Activity calls that fail non-retryably: activity name → 1-based call numbers (for this stack). */
  fail?: { [K in ActivityName]?: number[] };
  /** Activities that heartbeat until they are cancelled (then apply reports APPLY_INTERRUPTED, as the executors do). */
  block?: ActivityName[];
  /** Failover: the `stage/step` calls that fail non-retryably (FAILOVER_STEP_FAILED, as an injected fault does). */
  failSteps?: `${FailoverStageName}/${string}`[];
  /** notifyApprovalNeeded answers only once this settles. */
  notifyWaitsFor?: Promise<unknown>;
}

/** Failure codes the stubs raise per activity, as the real executors would. */
const FAILURE_CODE: { [K in ActivityName]?: string } = {
  prepareRun: 'SYNTH_FAILED',
  planRun: 'PLAN_FAILED',
  applyRun: 'APPLY_FAILED',
  verifyRun: 'VERIFY_FAILED',
};

/** The scripts, the call log and the stubs' bookkeeping, shared by one test file. */
export class StubWorld {
  readonly calls: Call[] = [];
  private readonly scripts = new Map<string, Script>();
  private readonly versions = new Map<string, number>();
  /** The simulated services progressive rollouts shift traffic on (real files, one per service). */
  readonly rolloutDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rollout-'));

  /** Sets the script for a stack or group (a fresh key per test keeps tests apart) and returns the key. */
  script(key: string, s: Script = {}): string {
    this.scripts.set(key, s);
    return key;
  }

  of(key: string): Script {
    return this.scripts.get(key) ?? {};
  }

  /** Names of the activities called for `key`, in call order. */
  names(key: string): ActivityName[] {
    return this.callsOf(key).map((c) => c.name);
  }

  callsOf(key: string, name?: ActivityName): Call[] {
    return this.calls.filter((c) => c.key === key && (!name || c.name === name));
  }

  /** Records a call and applies the script's failures and blocks; returns the call's number for this key. */
  async enter(name: ActivityName, key: string, input: unknown): Promise<number> {
    this.calls.push({ name, key, input });
    const n = this.callsOf(key, name).length;
    const s = this.of(key);
    if (s.fail?.[name]?.includes(n)) {
      throw ApplicationFailure.create({
        type: FAILURE_CODE[name] ?? 'FAILED',
        message: `${name} failed (scripted, call ${n})`,
        nonRetryable: true,
      });
    }
    if (s.block?.includes(name)) await untilCancelled(name);
    return n;
  }

  nextVersion(key: string): number {
    const v = (this.versions.get(key) ?? this.of(key).previous?.version ?? 0) + 1;
    this.versions.set(key, v);
    return v;
  }
}

/** Heartbeats until the activity is cancelled; apply then reports what it stopped, as the executors do. */
async function untilCancelled(name: ActivityName): Promise<never> {
  const ctx = Context.current();
  try {
    for (;;) {
      ctx.heartbeat();
      await ctx.sleep(50);
    }
  } catch (err) {
    if (name === 'applyRun') {
      throw ApplicationFailure.create({
        type: 'APPLY_INTERRUPTED',
        message: 'apply cancelled before any resource changed',
        nonRetryable: true,
      });
    }
    throw err;
  }
}

const CONFIG_DIGEST = 'c0ffee';

/** IaC activities over the world's scripts: plans with one resource, applies that succeed unless told otherwise. */
export function stubIacActivities(w: StubWorld): IacActivities {
  const plans = new Map<string, number>();
  return {
    async prepareRun(t) {
      await w.enter('prepareRun', t.stack, t);
      const ref = t.fromVersion !== undefined ? `config/${t.stack}/v${t.fromVersion}` : `config/${t.stack}/${t.runId}`;
      return { ref, digest: CONFIG_DIGEST, executor: 'simulated', variables: t.variables };
    },
    async planRun(t) {
      await w.enter('planRun', t.stack, t);
      const n = (plans.get(t.runId) ?? 0) + 1;
      plans.set(t.runId, n);
      const s = w.of(t.stack);
      // The second plan of a run is its automatic rollback's.
      const changes = n === 1 ? (s.changes ?? true) : (s.rollbackChanges ?? true);
      const action = t.destroy ? 'delete' : 'create';
      const resources = changes ? [{ address: 'sim_instance.web', type: 'sim_instance', action } as const] : [];
      const plan: PlanSummary = {
        planRef: `plans/${t.runId}/${n}`,
        planHash: `hash-${t.runId}-${n}`,
        add: changes && !t.destroy ? 1 : 0,
        change: 0,
        destroy: changes && t.destroy ? 1 : 0,
        hasChanges: changes,
        destroyPlan: Boolean(t.destroy),
        resources,
        stateSerial: 7,
        stateLineage: 'lineage-1',
        config: t.config,
      };
      return plan;
    },
    async applyRun(t) {
      await w.enter('applyRun', t.stack, t);
      return {
        outputs: { url: `https://${t.stack}.example` },
        resources: [],
        stateSerial: 8,
        stateLineage: 'lineage-1',
        durationMs: 1,
      };
    },
    async verifyRun(t) {
      await w.enter('verifyRun', t.stack, t);
    },
    async recordVersion(t) {
      await w.enter('recordVersion', t.stack, t);
      return version(t.stack, t.environment, w.nextVersion(t.stack), t.kind, t.runId, t.plan.planHash, t.restoredFrom);
    },
    async latestVersion(t) {
      await w.enter('latestVersion', t.stack, t);
      const p = w.of(t.stack).previous;
      return p ? version(t.stack, t.environment, p.version, p.kind, 'earlier-run', 'hash-earlier') : undefined;
    },
    async scanDrift(t) {
      await w.enter('scanDrift', t.stack, t);
      return {
        scannedAt: new Date().toISOString(),
        drifted: false,
        resources: [],
        stack: t.stack,
        environment: t.environment,
      };
    },
    async saveDriftReport(r) {
      await w.enter('saveDriftReport', r.stack, r);
    },
  };
}

function version(
  stack: string,
  environment: string,
  v: number,
  kind: StateVersionKind,
  deploymentId: string,
  planHash: string,
  restoredFrom?: number,
): StateVersionSummary {
  return {
    version: v,
    stack,
    environment,
    deploymentId,
    kind,
    createdAt: new Date().toISOString(),
    planHash,
    restoredFrom,
    config: { ref: `config/${stack}/v${v}`, digest: CONFIG_DIGEST, executor: 'simulated', variables: {} },
    outputs: {},
    resources: [],
  };
}

/** Slack notification: always "sent", after the script's gate if it has one. */
export function stubNotifyActivities(w: StubWorld): NotifyActivities {
  return {
    async notifyApprovalNeeded(n) {
      await w.enter('notifyApprovalNeeded', n.stack, n);
      await w.of(n.stack).notifyWaitsFor;
      return { sent: true };
    },
  };
}

/**
 * No policy findings and no price table: these tests are about the saga's branches, and the policy gate's own
 * (OPA, overrides) are test/workflows/policy.test.ts's. Not recorded, so the sagas' call sequences stay theirs.
 */
export function stubPolicyActivities(): PolicyActivities {
  return {
    async assessPlan() {
      return {};
    },
  };
}

/** No release runs here (test/workflows/release*.test.ts run them on the dev server): a call is a test bug. */
export function stubReleaseActivities(): ReleaseActivities {
  const refuse = (name: string) => {
    throw ApplicationFailure.create({
      type: 'NOT_STUBBED',
      message: `${name} is not served in the unit tests`,
      nonRetryable: true,
    });
  };
  return {
    async awaitRunStatus() {
      return refuse('awaitRunStatus');
    },
    async decideReleaseRun() {
      refuse('decideReleaseRun');
    },
  };
}

/** A failover group whose primary (us-east-1, 3 instances) is active and whose secondary is a healthy standby. */
export function stubFailoverActivities(w: StubWorld): FailoverActivities {
  const step = async (name: ActivityName, req: { group: string; stage: FailoverStageName; step: string }) => {
    await w.enter(name, req.group, req);
    if (w.of(req.group).failSteps?.includes(`${req.stage}/${req.step}`)) {
      throw ApplicationFailure.create({
        type: 'FAILOVER_STEP_FAILED',
        message: `scripted failure in ${req.stage}/${req.step}`,
        nonRetryable: true,
      });
    }
  };
  const outcome = (req: { step: string; side: string }) => ({ detail: `${req.step} on ${req.side}`, changed: true });
  const state = (group: string, epoch: number, activeSide: 'primary' | 'secondary') => ({
    group,
    activeSide,
    epoch,
    history: [],
  });
  return {
    async failoverReadiness(req) {
      await w.enter('failoverReadiness', req.group, req);
      return {
        from: 'primary',
        to: 'secondary',
        fromRegion: 'us-east-1',
        toRegion: 'us-west-2',
        ready: true,
        checks: [{ name: 'replica_available', ok: true, side: 'secondary' }],
        plan: [{ stage: 'promotion', step: 'promote_replica', side: 'secondary', description: 'promote the replica' }],
        capacity: { primary: { min: 1, max: 3, desired: 3 }, secondary: { min: 0, max: 3, desired: 0 } },
        targetCapacity: { min: 1, max: 3, desired: 3 },
        state: state(req.group, 4, 'primary'),
      };
    },
    async failoverAcquireLock(req) {
      await step('failoverAcquireLock', { ...req, step: 'acquire_lock' });
      return {
        ...state(req.group, 4, 'primary'),
        lock: { owner: req.failoverId, expiresAt: new Date(Date.now() + req.ttlMs).toISOString() },
      };
    },
    async failoverReleaseLock(req) {
      await w.enter('failoverReleaseLock', req.group, req);
      return true;
    },
    async failoverCommit(req) {
      await step('failoverCommit', req);
      return state(req.group, 5, req.side);
    },
    async failoverDrainTraffic(req) {
      await step('failoverDrainTraffic', req);
      return outcome(req);
    },
    async failoverRouteTraffic(req) {
      await step('failoverRouteTraffic', req);
      return outcome(req);
    },
    async failoverRestoreTraffic(req) {
      await step('failoverRestoreTraffic', req);
      return outcome(req);
    },
    async failoverScale(req) {
      await step('failoverScale', req);
      return outcome(req);
    },
    async failoverFenceDatabase(req) {
      await step('failoverFenceDatabase', req);
      return outcome(req);
    },
    async failoverReplicationLag(req) {
      await step('failoverReplicationLag', req);
      return { lagSeconds: 2, source: 'reported', detail: 'replica 2 s behind' };
    },
    async failoverPromoteReplica(req) {
      await step('failoverPromoteReplica', req);
      return { ...outcome(req), alreadyPromoted: false };
    },
    async failoverReattachReplica(req) {
      await step('failoverReattachReplica', req);
      return outcome(req);
    },
    async failoverVerifyHealth(req) {
      await step('failoverVerifyHealth', req);
      return { healthy: true, detail: 'target healthy' };
    },
    async failoverProbe(req) {
      await w.enter('failoverProbe', req.group, req);
      return { healthy: true, detail: 'probe ok', activeSide: 'primary' };
    },
  };
}

/** The real Temporal activities, with their calls recorded like the stubs'. */
function recordedTemporalActivities(w: StubWorld, real: TemporalActivities): TemporalActivities {
  return {
    async requestStackLock(req) {
      await w.enter('requestStackLock', req.stack, req);
      return real.requestStackLock(req);
    },
    async releaseStackLock(req) {
      // Not recorded, nor is the grant: the lock's own business; the unit tests see their effect on the runs.
      return real.releaseStackLock(req);
    },
    async grantStackLock(req) {
      return real.grantStackLock(req);
    },
    async stackRunsInFlight(req) {
      // Not recorded: it is the lock workflow's own look-up, not a step of the run under test. The time-skipping server has no visibility queries; a fresh lock's recovery (tested against the dev
      // server in test/workflows/stack-lock.test.ts) then sees no run in flight, as on an empty stack.
      return real.stackRunsInFlight(req).catch(() => []);
    },
    async isWorkflowRunning(workflowId) {
      await w.enter('isWorkflowRunning', workflowId, workflowId);
      return real.isWorkflowRunning(workflowId);
    },
  };
}

/** How long a held stack lock waits before checking its holder: longer than any skipped timer in these tests. */
const LOCK_HOLDER_CHECK_MS = 30 * 24 * 3600_000;

/** Starts the worker on a fresh task queue of `env`; every activity a real worker serves is registered. */
export async function startStubWorker(
  env: TestWorkflowEnvironment,
  world: StubWorld,
): Promise<RunningWorker & { taskQueue: string }> {
  const taskQueue = `unit-${randomUUID()}`;
  const bundle = process.env.STRATA_WORKFLOW_BUNDLE;
  // Typed as the real worker's activity map: an activity added to buildActivities must be stubbed here too.
  const iac = stubIacActivities(world);
  const policy = stubPolicyActivities();
  const activities: WorkerActivities = {
    ...iac,
    // Real: the combined steps call the stubs, so the world records their parts by name as before.
    ...createStepActivities({ ...iac, ...policy }),
    // Real: signatures are checked against keys generated for this test (none of these runs demands them).
    ...createDecisionActivities({
      config: { approvalSigning: { required: true, signers: [], bots: [] }, baseDir: process.cwd() },
    }),
    // Real: the lock workflow is started and signalled on the test server like in production. Its holder
    // check would otherwise fire every 15 s of skipped time during a 72 h expiry.
    ...recordedTemporalActivities(
      world,
      createTemporalActivities({
        locks: createGateway(env.client, { namespace: 'default', taskQueue }).runs,
        lockHolderCheckIntervalMs: LOCK_HOLDER_CHECK_MS,
      }),
    ),
    ...stubNotifyActivities(world),
    ...policy,
    ...stubReleaseActivities(),
    ...stubFailoverActivities(world),
    // Real: the simulated traffic model is in-process files, fast enough for the time-skipping tests.
    ...createRolloutActivities({ simulated: { dataDir: world.rolloutDir } }),
  };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../../src/workflows') }),
    activities,
    // Cancellation reaches an activity only in a heartbeat response: answer within ~100 ms, not 80% of 20 s.
    maxHeartbeatThrottleInterval: '100ms',
    shutdownGraceTime: '1s',
  });
  return { ...runWorker(worker), taskQueue };
}
