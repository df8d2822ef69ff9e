/**
 * What every part of a FailoverWorkflow run shares: the activity proxies, named by what they call and each with
 * its timeout profile, the run's context (StageRun) and the request every step sends.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { FailoverActivities, StepRequest } from '../activities/cloud/failover-activities';
import { isInjectedStep, type FailoverInput, type FailoverSide, type FailoverStageName } from '../contracts/failover';
import { nonRetryableExcept } from '../shared/errors';
import type { FailoverRecorder } from './failover-record';

/** The error table's non-retryable codes; an unreachable side (PROVIDER_UNAVAILABLE) is worth retrying here. */
const NON_RETRYABLE = nonRetryableExcept('PROVIDER_UNAVAILABLE');

/** Lock, global state, readiness: quick calls, retried briefly. */
const control: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** A step that must succeed (target side; source side in planned mode), else the saga compensates. */
const mustStep: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 5, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Emergency source steps: the region may be down, so fail fast and move on. */
const bestEffort: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Promotion takes minutes on RDS: heartbeats let a dead worker's attempt be retried within 10 s, and the retry never promotes twice. */
const promotionWait: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 10, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Health verification polls inside the activity for up to `healthTimeoutMs`. */
const healthWait: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 2, nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Compensations put the source back: retried hard, recorded whatever happens. */
const undo: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 8, initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Lock, global state and readiness calls. */
export const lockAndState = proxyActivities<FailoverActivities>(control);
/** Steps that must succeed, or the saga compensates. */
export const requiredSteps = proxyActivities<FailoverActivities>(mustStep);
/** Emergency steps on a source that may be gone. */
export const bestEffortSteps = proxyActivities<FailoverActivities>(bestEffort);
/** The replica promotion, heartbeating while RDS works. */
export const replicaPromotion = proxyActivities<FailoverActivities>(promotionWait);
/** The wait for the target to report healthy. */
export const healthVerification = proxyActivities<FailoverActivities>(healthWait);
/** Compensations. */
export const compensations = proxyActivities<FailoverActivities>(undo);

const DEFAULT_LOCK_TTL_MS = 15 * 60_000;
/** How long target_activation waits for the target to report healthy unless the input says otherwise. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 5 * 60_000;

/** What the stage functions of one run share. */
export interface StageRun {
  input: FailoverInput;
  rec: FailoverRecorder;
  emergency: boolean;
  lockTtlMs: number;
  /** Source-side steps: required in planned mode, best effort (fail fast, go on) in emergency mode. */
  sourceSteps: FailoverActivities;
  /** Decided once, at the first compensation registered: how this run registers and runs its compensations. */
  undoByPhase?: boolean;
  /** True while keepLockRenewed's loop renews the lock; only such a run can tell that it lost the lock. */
  renewing?: boolean;
  /** Set once the run learns that its lock expired or passed to someone else: from then on it changes nothing. */
  lockLost?: { message: string; at: string };
}

/** The shared context of one run's stages. */
export function stageRun(input: FailoverInput, rec: FailoverRecorder): StageRun {
  const emergency = input.mode === 'emergency';
  return {
    input,
    rec,
    emergency,
    lockTtlMs: input.lockTtlMs ?? DEFAULT_LOCK_TTL_MS,
    sourceSteps: emergency ? bestEffortSteps : requiredSteps,
  };
}

/** The request of one step: its group, run, stage, step and side, and whether the input injects its failure. */
export function stepRequest(run: StageRun, stage: FailoverStageName, step: string, side: FailoverSide): StepRequest {
  return {
    group: run.input.group,
    failoverId: run.input.id,
    stage,
    step,
    side,
    injectFailure: isInjectedStep(run.input.injectFailure, stage, step) || undefined,
  };
}
