/**
 * The activities a stack change calls, one proxy per kind of work, each with its timeout profile. Activity
 * names and options are part of recorded histories: a change here is a change of the saga's commands.
 */
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { IacActivities } from '../activities/iac';
import type { NotifyActivities } from '../activities/notify/slack';
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
