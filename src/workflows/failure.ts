/** How workflows report a failure: the innermost ApplicationFailure's own type and message. */
import { ApplicationFailure } from '@temporalio/workflow';

export interface FailureSummary {
  code: string;
  message: string;
}

/** Unwraps ActivityFailure/ChildWorkflowFailure → ApplicationFailure so a run reports the executor's or cloud's own code. */
export function failureOf(err: unknown): FailureSummary {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause && !(e instanceof ApplicationFailure && e.type)) {
    e = (e as { cause: unknown }).cause;
  }
  if (e instanceof ApplicationFailure) return { code: e.type ?? 'FAILED', message: e.message };
  return { code: 'FAILED', message: err instanceof Error ? err.message : String(err) };
}
