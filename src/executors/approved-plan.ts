/**
 * The one way an executor reads the plan it is about to apply: the saved bytes, refused unless they hash to the
 * plan hash the run approved (nothing is applied that was not approved as planned). A plan gone from the artifact
 * store is final; a store that cannot be reached right now is left to the activity's retries.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode, StrataError } from '../shared/errors';
import type { ExecutorContext, PlanSummary } from './types';

function refuse(type: ErrorCode, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message });
}

/** The approved plan's bytes: PLAN_NOT_FOUND when it is gone, PLAN_HASH_MISMATCH when they are not what was approved. */
export async function loadApprovedPlan(
  plan: Pick<PlanSummary, 'planRef' | 'planHash'>,
  ctx: Pick<ExecutorContext, 'artifacts'>,
): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await ctx.artifacts.get(plan.planRef);
  } catch (err) {
    if (!(err instanceof StrataError && err.code === ErrorCode.NOT_FOUND)) throw err;
    throw refuse(ErrorCode.PLAN_NOT_FOUND, `saved plan ${plan.planRef} is not in the artifact store`);
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== plan.planHash) {
    throw refuse(
      ErrorCode.PLAN_HASH_MISMATCH,
      `saved plan ${plan.planRef} has sha256 ${actual}, not the approved ${plan.planHash}; refusing to apply`,
    );
  }
  return bytes;
}
