/**
 * The one error taxonomy. Activities throw ApplicationFailure with one of these as `type`; the API maps
 * them to HTTP statuses. Codes are wire values: never rename one.
 */
export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  UNAVAILABLE: 'UNAVAILABLE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  INTERNAL: 'INTERNAL',
  CONFIG_INVALID: 'CONFIG_INVALID',
  STACK_NOT_FOUND: 'STACK_NOT_FOUND',
  ENVIRONMENT_NOT_FOUND: 'ENVIRONMENT_NOT_FOUND',
  PLAN_STALE: 'PLAN_STALE',
  PLAN_NOT_FOUND: 'PLAN_NOT_FOUND',
  // The saved plan's bytes no longer hash to what was approved: never apply it.
  PLAN_HASH_MISMATCH: 'PLAN_HASH_MISMATCH',
  PLAN_FAILED: 'PLAN_FAILED',
  APPLY_FAILED: 'APPLY_FAILED',
  APPLY_INTERRUPTED: 'APPLY_INTERRUPTED',
  // Retryable: the worker stopped (shutdown) while an apply went on; the next attempt takes it over.
  APPLY_HANDED_OVER: 'APPLY_HANDED_OVER',
  VERIFY_FAILED: 'VERIFY_FAILED',
  INIT_FAILED: 'INIT_FAILED',
  SYNTH_FAILED: 'SYNTH_FAILED',
  PROVIDER_UNAVAILABLE: 'PROVIDER_UNAVAILABLE',
  TOOL_NOT_FOUND: 'TOOL_NOT_FOUND',
  STATE_VERSION_NOT_FOUND: 'STATE_VERSION_NOT_FOUND',
  // A compare-and-swap write of the current state lost: someone else wrote since the writer read it.
  STATE_CONFLICT: 'STATE_CONFLICT',
  LOCK_HELD: 'LOCK_HELD',
  FAILOVER_IN_PROGRESS: 'FAILOVER_IN_PROGRESS',
  FAILOVER_NOT_READY: 'FAILOVER_NOT_READY',
  FAILOVER_STEP_FAILED: 'FAILOVER_STEP_FAILED',
  FAILOVER_GROUP_NOT_FOUND: 'FAILOVER_GROUP_NOT_FOUND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error raised outside workflows that carries a taxonomy code (API handlers, config loading, executors). */
export class StrataError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'StrataError';
  }
}
