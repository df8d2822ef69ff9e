/**
 * What a cloud must offer for a failover: the one interface the AWS SDK implementation and the simulated
 * world both satisfy. Every operation is idempotent (it sets an absolute desired state, or checks before it
 * acts), because Temporal retries activities and a worker may die half-way through any of them.
 */
import type { FailoverGroupConfig } from '../../shared/config';
import type { FailoverMode, FailoverSide, FailoverStageName, ReadinessCheck } from '../../contracts/failover';

export type { FailoverSide };

/** A failover group as the clouds see it: its name plus its strata.yaml entry. */
export interface GroupRef {
  name: string;
  cfg: FailoverGroupConfig;
}

/** Handed to every cloud call by the activity wrapper. */
export interface OpContext {
  failoverId: string;
  heartbeat(detail?: unknown): void;
  signal: AbortSignal;
}

export interface Capacity {
  min: number;
  max: number;
  desired: number;
  /**
   * Kubernetes: the state of each of the group's objects (`Kind/namespace/name`), so a restore puts back exactly
   * what readiness found, and the target takes the source's counts. Recorded in the run's history with the rest.
   */
  objects?: KubeObjectsState;
}

/** Replica counts of Deployments/StatefulSets and `spec.suspend` of CronJobs and Flux objects, by `Kind/ns/name`. */
export interface KubeObjectsState {
  replicas: Record<string, number>;
  suspended: Record<string, boolean>;
}

/** Recorded in global state in stage 1 so any operator (or a resumed worker) sees what is under way. */
export interface FailoverIntent {
  failoverId: string;
  from: FailoverSide;
  to: FailoverSide;
  mode: FailoverMode;
  startedAt: string;
}

export interface FailoverHistoryEntry {
  failoverId: string;
  from: FailoverSide;
  to: FailoverSide;
  mode: FailoverMode;
  epoch: number;
  completedAt: string;
  rtoSeconds?: number;
  rpoSeconds?: number;
  /** The failover ended part-way (an emergency that failed after promotion): see GlobalState.attention. */
  incomplete?: boolean;
}

/** Left in global state by a failover that ended part-way: what is still to be done by hand. Cleared by the next commit. */
export interface FailoverAttention {
  failoverId: string;
  at: string;
  manualSteps: string[];
}

/** The group's global state: which side is active, a monotonically increasing epoch (the fencing token) and the lock. */
export interface GlobalState {
  group: string;
  activeSide: FailoverSide;
  epoch: number;
  lock?: { owner: string; expiresAt: string };
  intent?: FailoverIntent;
  lastFailoverId?: string;
  history: FailoverHistoryEntry[];
  attention?: FailoverAttention;
  /** Last time a canary write on the primary was confirmed on the replica (the RPO fallback). */
  replicationCheckpointAt?: string;
}

export interface StepOutcome {
  detail: string;
  /** False when the desired state was already in place (a retry, or nothing to do for this routing kind). */
  changed: boolean;
  /** The step cannot be performed through an API; a human must act (recorded, never swallowed). */
  manual?: boolean;
}

export interface PromoteOutcome extends StepOutcome {
  alreadyPromoted: boolean;
}

export interface LagReport {
  lagSeconds?: number;
  source: 'reported' | 'checkpoint' | 'unknown';
  detail: string;
}

export interface HealthReport {
  healthy: boolean;
  detail: string;
}

/**
 * Where the group's traffic went before a failover touched it, so a rollback restores exactly that (a 70/30
 * split stays 70/30) instead of sending everything to the source. Each cloud reads back only its own fields.
 */
export interface TrafficSnapshot {
  detail: string;
  /** Per-side weights (the simulated world). */
  weights?: Partial<Record<FailoverSide, number>>;
  /** The record sets as found (Route53), restored verbatim. */
  records?: unknown[];
}

export interface CloudReadiness {
  checks: ReadinessCheck[];
  /** Capacity of each side as found (undefined when unreachable): the compensations restore these values. */
  capacity: Partial<Record<FailoverSide, Capacity>>;
  /** Human-readable description of where traffic goes now, for the plan. */
  traffic?: string;
  /** Where traffic goes now, in a form `restoreTraffic` takes back (undefined when unreadable). */
  trafficSnapshot?: TrafficSnapshot;
  /** Names of the resources the plan will touch, per side (ASG, record, database). */
  resources: Partial<Record<FailoverSide, { capacity?: string; database?: string; health?: string }>> & {
    dns?: string;
  };
}

/**
 * Collects a readiness report's checks: `check` runs one probe and records it, and a probe that fails or throws
 * blocks the failover only where it is `required` (an emergency goes ahead without the lost side's answers).
 */
export function readinessChecks(): {
  checks: ReadinessCheck[];
  check: (
    name: string,
    side: FailoverSide,
    fn: () => Promise<{ ok: boolean; detail: string }>,
    required: boolean,
  ) => Promise<void>;
} {
  const checks: ReadinessCheck[] = [];
  const check = async (
    name: string,
    side: FailoverSide,
    fn: () => Promise<{ ok: boolean; detail: string }>,
    required: boolean,
  ) => {
    try {
      const r = await fn();
      checks.push({ name, side, ok: r.ok || !required, detail: r.detail });
    } catch (err) {
      checks.push({ name, side, ok: !required, detail: `${(err as Error).name}: ${(err as Error).message}` });
    }
  };
  return { checks, check };
}

/** Thrown by acquireLock when another failover holds the group's lock; becomes FAILOVER_IN_PROGRESS. */
export class LockHeldError extends Error {
  constructor(
    readonly holder: string | undefined,
    readonly expiresAt: string | undefined,
  ) {
    super(`failover lock is held by ${holder ?? 'another failover'}${expiresAt ? ` until ${expiresAt}` : ''}`);
    this.name = 'LockHeldError';
  }
}

/** Thrown by commit when the committing failover's own lock has expired; becomes FAILOVER_LOCK_LOST. */
export class LockExpiredError extends Error {
  constructor(
    readonly owner: string,
    readonly expiredAt: string | undefined,
  ) {
    super(`the failover lock of ${owner} expired${expiredAt ? ` at ${expiredAt}` : ''}: refusing to commit`);
    this.name = 'LockExpiredError';
  }
}

/** Thrown when a side's region cannot be reached; retryable, and best-effort in emergency mode. */
export class SideUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SideUnreachableError';
  }
}

export interface FailoverCloud {
  /** Checks the target (and, in planned mode, the source) can take part; reads capacities for compensation. */
  readiness(g: GroupRef, req: { from: FailoverSide; to: FailoverSide; mode: FailoverMode }): Promise<CloudReadiness>;
  /** Reads the global state; a group never failed over reads as `primary` active at epoch 0. */
  readState(g: GroupRef): Promise<GlobalState>;
  /** Conditional write: succeeds when the lock is free, expired, or already ours (renewal). Throws LockHeldError. */
  acquireLock(g: GroupRef, req: { owner: string; ttlMs: number; intent?: FailoverIntent }): Promise<GlobalState>;
  /** Releases the lock and clears the intent when `owner` holds it; false when it did not. */
  releaseLock(g: GroupRef, owner: string): Promise<boolean>;
  /**
   * Records the new active side, increments the epoch once per failover id, appends history. The lock must be
   * ours and unexpired (LockHeldError, LockExpiredError).
   * With `attention` the failover ended part-way and the state says what is left; without it, it clears any.
   */
  commit(
    g: GroupRef,
    req: { owner: string; entry: Omit<FailoverHistoryEntry, 'epoch'>; attention?: FailoverAttention },
  ): Promise<GlobalState>;
  /** Stops sending new traffic to `side` (weight 0). */
  drainTraffic(g: GroupRef, side: FailoverSide, ctx: OpContext): Promise<StepOutcome>;
  /** Points the group's record at `side` only (the DNS switch; also the compensation that returns traffic). */
  routeTraffic(g: GroupRef, side: FailoverSide, ctx: OpContext): Promise<StepOutcome>;
  /** Puts traffic back the way `snapshot` found it (the compensation of drain and switch). */
  restoreTraffic(g: GroupRef, snapshot: TrafficSnapshot, ctx: OpContext): Promise<StepOutcome>;
  scale(g: GroupRef, side: FailoverSide, capacity: Capacity, ctx: OpContext): Promise<StepOutcome>;
  /** Fences (or unfences) the side's database so it takes no more writes: the "demotion". */
  fenceDatabase(g: GroupRef, side: FailoverSide, fenced: boolean, ctx: OpContext): Promise<StepOutcome>;
  replicationLag(g: GroupRef, side: FailoverSide, ctx: OpContext): Promise<LagReport>;
  /** Promotes `side`'s replica and waits until it is available; skips when already promoted. Heartbeats. */
  promoteReplica(g: GroupRef, side: FailoverSide, ctx: OpContext): Promise<PromoteOutcome>;
  /** Compensation of a promotion: make `side` a replica of `source` again (manual on real clouds). */
  reattachReplica(g: GroupRef, side: FailoverSide, source: FailoverSide, ctx: OpContext): Promise<StepOutcome>;
  /** One health observation of `side` (the activity polls this until healthy or a deadline). */
  health(g: GroupRef, side: FailoverSide, ctx: OpContext): Promise<HealthReport>;
  /** Group-level fault injection (simulated world only). Returns a message when this step must fail. */
  injectedFault?(g: GroupRef, stage: FailoverStageName, step: string): Promise<string | undefined>;
}
