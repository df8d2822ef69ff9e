/** How workflows report a failure: the innermost ApplicationFailure's own type and message. */
import { ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/workflow';

export interface FailureSummary {
  code: string;
  message: string;
}

/** Unwraps ActivityFailure/ChildWorkflowFailure → ApplicationFailure so a run reports the executor's or cloud's own code. */
export function failureOf(err: unknown): FailureSummary {
  let e: unknown = err;
  while (
    e &&
    typeof e === 'object' &&
    'cause' in e &&
    (e as { cause?: unknown }).cause &&
    !(e instanceof ApplicationFailure && e.type)
  ) {
    e = (e as { cause: unknown }).cause;
  }
  if (e instanceof ApplicationFailure) return { code: e.type ?? 'FAILED', message: e.message };
  return { code: 'FAILED', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Failure types that say the work was stopped, not that it failed: the executors' interrupted apply, and what
 * the SDK reports for an activity stopped by a reset, a pause or a heartbeat it could not convert.
 */
const INTERRUPTION_TYPES = ['APPLY_INTERRUPTED', 'CancelledFailure', 'ActivityReset', 'ActivityPause'];

/**
 * True when an activity was stopped rather than failed: cancelled (a worker shutting down, a reset), its
 * heartbeat lost (its worker died, every attempt), or an executor reporting APPLY_INTERRUPTED. Such a failure says nothing about the change
 * itself, so it must never be answered with a compensation nobody approved.
 */
export function isInterruption(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof CancelledFailure) return true;
    if (e instanceof TimeoutFailure && e.timeoutType === 'HEARTBEAT') return true;
    if (e instanceof ApplicationFailure && e.type && INTERRUPTION_TYPES.includes(e.type)) return true;
  }
  return false;
}
