/** ApplicationFailure helpers: the simulated executor reports every business failure with an explicit type. */
import { ApplicationFailure } from '@temporalio/common';
import type { ErrorCode } from '../../shared/errors';

/** A non-retryable failure with a taxonomy code and structured details. */
export function failure(type: ErrorCode, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });
}
