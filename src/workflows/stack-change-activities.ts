/**
 * The activities a stack change calls, one proxy per kind of work, each with its timeout profile. Activity
 * names and options are part of recorded histories: a change here is a change of the saga's commands.
 */
import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { IacActivities } from '../activities/iac';
import type { NotifyActivities } from '../activities/notify/slack';
import type { PolicyActivities } from '../activities/policy';
import type { StepActivities } from '../activities/steps';
import type { TemporalActivities } from '../activities/temporal';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';

/** Failures no retry can fix (the error table's non-retryable codes): the saga decides what happens next. */
const NON_RETRYABLE = NON_RETRYABLE_ERROR_TYPES;

/** Planning and verification: synth/init/plan and health checks are restartable, so retry them a few times. */
const iacPlan: ActivityOptions = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: '60s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
/** Apply: long, heartbeating, cancellable with the tool interrupted cleanly; a crashed worker's attempt is resumed. */
const iacApply: ActivityOptions = {
  startToCloseTimeout: '2h',
  heartbeatTimeout: '20s',
  retry: { maximumAttempts: 3, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
/** Short calls to the stores and to Temporal itself. */
const quick: ActivityOptions = { startToCloseTimeout: '2m', retry: { maximumAttempts: 5 } };

/** prepareRun, planRun: snapshot the configuration and save a plan. */
export const planning = proxyActivities<Pick<IacActivities, 'prepareRun' | 'planRun'>>(iacPlan);
/** verifyRun: health checks after an apply (same profile as planning). */
export const verifying = proxyActivities<Pick<IacActivities, 'verifyRun'>>(iacPlan);
/** applyRun: exactly the approved, saved plan. */
export const applying = proxyActivities<Pick<IacActivities, 'applyRun'>>(iacApply);
/** latestVersion, recordVersion: the versioned state store. */
export const stores = proxyActivities<Pick<IacActivities, 'latestVersion' | 'recordVersion'>>(quick);
/** requestStackLock: queue on the stack+environment lock. */
export const locks = proxyActivities<Pick<TemporalActivities, 'requestStackLock'>>(quick);
/** notifyApprovalNeeded: best-effort Slack message to the approvers. */
export const notifications = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3 },
});

/**
 * Local activities: steps that take milliseconds and whose retries need no other machine run inside the
 * workflow task that asks for them, without a round trip through the server's task queue (a marker in history
 * instead of three events and a workflow task). Each is idempotent, as a local activity must be: a worker that
 * dies before its workflow task completes has the step run again by the next one.
 */
const quickLocal: LocalActivityOptions = {
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const planLocal: LocalActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/** The proxies one run's steps go through. */
export interface StackChangeSteps {
  planning: Pick<IacActivities, 'prepareRun' | 'planRun'>;
  verifying: Pick<IacActivities, 'verifyRun'>;
  applying: Pick<IacActivities, 'applyRun'>;
  stores: Pick<IacActivities, 'latestVersion' | 'recordVersion'>;
  locks: Pick<TemporalActivities, 'requestStackLock'> & Partial<Pick<TemporalActivities, 'releaseStackLock'>>;
  policy: Pick<PolicyActivities, 'assessPlan'>;
  /** Planning and verify-and-record each as one step (quick executors; activities/steps). */
  combined?: StepActivities;
}

const policyRemote = proxyActivities<Pick<PolicyActivities, 'assessPlan'>>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3 },
});

/** Every step a regular activity: runs recorded before local steps existed. */
export const REMOTE_STEPS: StackChangeSteps = {
  planning,
  verifying,
  applying,
  stores,
  // The lock request alone: these runs release the lock with a signal-external command, as they always did (an
  // activity proxy answers every name, so handing it over whole would offer a release activity too).
  locks: { requestStackLock: locks.requestStackLock },
  policy: policyRemote,
};

const storesLocal = proxyLocalActivities<Pick<IacActivities, 'latestVersion' | 'recordVersion'>>(quickLocal);
const locksLocal = proxyLocalActivities<Pick<TemporalActivities, 'requestStackLock' | 'releaseStackLock'>>(quickLocal);
const policyLocal = proxyLocalActivities<Pick<PolicyActivities, 'assessPlan'>>(planLocal);
const planningLocal = proxyLocalActivities<Pick<IacActivities, 'prepareRun' | 'planRun'>>(planLocal);
const verifyingLocal = proxyLocalActivities<Pick<IacActivities, 'verifyRun'>>(planLocal);
const combinedLocal = proxyLocalActivities<StepActivities>(planLocal);

/**
 * The steps of a run: store reads and writes, the lock request and the policy check are local everywhere; an
 * executor whose plans take milliseconds (the simulated cloud) plans and verifies locally too. Tools that run
 * for minutes (init, plan, apply of OpenTofu, Helm, CloudFormation) stay regular activities, heartbeating and
 * retried on any worker; so does every apply, whose resumption after a crash counts on the activity's attempts.
 */
export function localSteps(quickExecutor: boolean, combined = false): StackChangeSteps {
  return {
    planning: quickExecutor ? planningLocal : planning,
    verifying: quickExecutor ? verifyingLocal : verifying,
    applying,
    stores: storesLocal,
    locks: locksLocal,
    policy: policyLocal,
    // A quick executor's snapshot, plan and assessment, and its verification and record, need no activation
    // between them: each pair of round trips saved is ~a tenth of such a run's work on the worker.
    ...(quickExecutor && combined ? { combined: combinedLocal } : {}),
  };
}
