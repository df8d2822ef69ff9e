/**
 * The one error taxonomy. Every code Strata raises — in activities, workflows, services and routes — is a row
 * of ERRORS with its HTTP status and whether a retry can help. Activities throw ApplicationFailure with the
 * code as `type`; services throw StrataError; only the API's error handler turns a code into a status, and
 * workflows derive their non-retryable lists from this table. Codes are wire values: never rename one.
 *
 * Safe to import from workflow code (no I/O).
 */

interface ErrorSpec {
  /** HTTP status when the code reaches an API caller. */
  readonly http: number;
  /** False when retrying the same call cannot succeed (bad input, a refused plan, a missing thing). */
  readonly retryable: boolean;
}

const ERRORS = {
  // Request and access
  VALIDATION_FAILED: { http: 400, retryable: false },
  UNAUTHENTICATED: { http: 401, retryable: false },
  FORBIDDEN: { http: 403, retryable: false },
  NOT_FOUND: { http: 404, retryable: false },
  CONFLICT: { http: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { http: 413, retryable: false },
  METHOD_NOT_ALLOWED: { http: 405, retryable: false },
  RATE_LIMITED: { http: 429, retryable: true },
  UNAVAILABLE: { http: 503, retryable: true },
  INTERNAL: { http: 500, retryable: true },
  CONFIG_INVALID: { http: 500, retryable: false },
  // Stacks, runs and state
  STACK_NOT_FOUND: { http: 404, retryable: false },
  ENVIRONMENT_NOT_FOUND: { http: 404, retryable: false },
  STATE_VERSION_NOT_FOUND: { http: 404, retryable: false },
  // Approvals (the gate's refusals; the caller learns why at once)
  NOT_AWAITING_APPROVAL: { http: 409, retryable: false },
  APPROVAL_EXPIRED: { http: 409, retryable: false },
  DUPLICATE_APPROVER: { http: 409, retryable: false },
  /** The approver looked at another plan than the one awaiting approval. */
  APPROVAL_PLAN_MISMATCH: { http: 409, retryable: false },
  /** A Rego policy denies the plan: it cannot be approved until an admin overrides (where allowed). */
  POLICY_DENIED: { http: 409, retryable: false },
  // Planning and applying
  PLAN_STALE: { http: 409, retryable: false },
  PLAN_NOT_FOUND: { http: 404, retryable: false },
  /** The saved plan's bytes no longer hash to what was approved: never apply it. */
  PLAN_HASH_MISMATCH: { http: 409, retryable: false },
  PLAN_FAILED: { http: 422, retryable: false },
  APPLY_FAILED: { http: 422, retryable: false },
  APPLY_INTERRUPTED: { http: 409, retryable: false },
  /** The worker is shutting down: the tool keeps running and the next attempt (on any worker) takes it over. */
  APPLY_HANDED_OVER: { http: 503, retryable: true },
  /** Another writer changed the stack's state first (compare-and-swap lost): never overwrite it blindly. */
  STATE_CONFLICT: { http: 409, retryable: false },
  VERIFY_FAILED: { http: 422, retryable: false },
  INIT_FAILED: { http: 422, retryable: false },
  SYNTH_FAILED: { http: 422, retryable: false },
  PROVIDER_UNAVAILABLE: { http: 503, retryable: false },
  TOOL_NOT_FOUND: { http: 500, retryable: false },
  /** A `{ secret: NAME }` variable the worker's environment and secrets file do not hold (the message names it, never a value). */
  SECRET_NOT_FOUND: { http: 422, retryable: false },
  // Failover
  FAILOVER_IN_PROGRESS: { http: 409, retryable: false },
  FAILOVER_NOT_READY: { http: 409, retryable: false },
  FAILOVER_STEP_FAILED: { http: 500, retryable: true },
  FAILOVER_GROUP_NOT_FOUND: { http: 404, retryable: false },
  /** The failover lost its global lock mid-way: it neither commits nor undoes (another run may act). */
  FAILOVER_LOCK_LOST: { http: 409, retryable: false },
  // Progressive delivery
  /** Another rollout of the same service is under way: one new version at a time. */
  ROLLOUT_CONFLICT: { http: 409, retryable: false },
  /** The rollout already completed or rolled back: nothing left to promote, pause or abort. */
  ROLLOUT_FINISHED: { http: 409, retryable: false },
  ROLLOUT_NOT_PAUSED: { http: 409, retryable: false },
  ROLLOUT_ALREADY_PAUSED: { http: 409, retryable: false },
  /** The provider refused a traffic or capacity change; a retry may get through. */
  ROLLOUT_STEP_FAILED: { http: 500, retryable: true },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Every code by name, so call sites read `ErrorCode.PLAN_STALE`. */
export const ErrorCode = Object.fromEntries(Object.keys(ERRORS).map((k) => [k, k])) as { readonly [K in ErrorCode]: K };

/** The HTTP status of a code; unknown codes (another system's) are a 500. */
export function httpStatusOf(code: string): number {
  return (ERRORS as Record<string, ErrorSpec>)[code]?.http ?? 500;
}

/** Codes no retry can fix: activity retry policies list these as `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = Object.entries(ERRORS as Record<string, ErrorSpec>)
  .filter(([, spec]) => !spec.retryable)
  .map(([code]) => code);

/**
 * The non-retryable codes minus `retryHere`: for callers where a code means "try again" (the failover saga
 * retries PROVIDER_UNAVAILABLE, an unreachable side, while a stack change treats it as final).
 */
export function nonRetryableExcept(...retryHere: ErrorCode[]): string[] {
  return NON_RETRYABLE_ERROR_TYPES.filter((c) => !(retryHere as string[]).includes(c));
}

/** An error raised outside workflows that carries a taxonomy code (services, config loading, executors). */
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
