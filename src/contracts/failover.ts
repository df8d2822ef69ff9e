/** Types, queries and ids of the FailoverWorkflow, shared by the workflow, its activities and the API. */
import { defineQuery } from '@temporalio/workflow';
import type { Approval, ApprovalPolicy, RefusedDecision, Rejection } from './approval';

/** The two sides of a failover group, as named in strata.yaml (`primary:` / `secondary:`). */
export type FailoverSide = 'primary' | 'secondary';
export type FailoverMode = 'planned' | 'emergency';

/** The six stages, in order. Stage names are wire values (API, history): never rename one. */
export const FAILOVER_STAGES = [
  'initialization',
  'source_preparation',
  'demotion',
  'promotion',
  'target_activation',
  'completion',
] as const;
export type FailoverStageName = (typeof FAILOVER_STAGES)[number];

/** The steps (activity calls) of each stage, in order; fault injection defaults to a stage's last step. */
export const FAILOVER_STAGE_STEPS: Record<FailoverStageName, readonly string[]> = {
  initialization: ['readiness', 'acquire_lock'],
  // recheck_readiness runs only after an approval wait.
  source_preparation: ['recheck_readiness', 'drain_traffic', 'scale_source'],
  demotion: ['fence_database'],
  promotion: ['replication_lag', 'promote_replica'],
  target_activation: ['scale_target', 'switch_traffic', 'verify_health'],
  completion: ['commit'],
};

/** True when `inject` targets this stage's `step` (its last step when the injection names none). */
export function isInjectedStep(inject: InjectFailure | undefined, stage: FailoverStageName, step: string): boolean {
  if (!inject || inject.stage !== stage) return false;
  const steps = FAILOVER_STAGE_STEPS[stage];
  return (inject.step ?? steps[steps.length - 1]) === step;
}

export type StageStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** Every failover status (wire values: never rename one). */
export const FAILOVER_STATUSES = [
  'pending',
  'running',
  'awaiting_approval',
  'compensating',
  'succeeded',
  'planned',
  'failed',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
  'needs_attention',
] as const;
export type FailoverStatus = (typeof FAILOVER_STATUSES)[number];

/**
 * Statuses a run ends in. `needs_attention`: the run ended part-way through a change it could not undo (an
 * emergency failover that failed after promoting the target); `manualSteps` says what a human must finish.
 */
export const FAILOVER_TERMINAL_STATUSES: readonly FailoverStatus[] = [
  'succeeded',
  'planned',
  'failed',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
  'needs_attention',
];

export interface FailoverError {
  code: string;
  message: string;
}

/** One activity call inside a stage. */
export interface StepRecord {
  name: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  completedAt?: string;
  detail?: string;
  error?: FailoverError;
}

export interface FailoverStage {
  name: FailoverStageName;
  status: StageStatus;
  startedAt?: string;
  completedAt?: string;
  durationMs?: number;
  /** Emergency mode: the stage's failure was recorded and the failover went on without it. */
  bestEffort?: boolean;
  error?: FailoverError;
  steps: StepRecord[];
}

/** The outcome of one compensation; `manual` means it cannot be undone by an API call and a human must act. */
export interface CompensationRecord {
  name: string;
  stage: FailoverStageName;
  status: 'succeeded' | 'failed' | 'manual';
  startedAt: string;
  completedAt?: string;
  detail?: string;
  error?: FailoverError;
}

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  side?: FailoverSide;
  detail?: string;
}

/** One line of the dry-run plan (and of every run's plan): what would change, where. */
export interface PlannedAction {
  stage: FailoverStageName;
  step: string;
  side?: FailoverSide;
  description: string;
}

/** Fault injection for demos and tests: fail `step` (default: the stage's last step) of `stage`, non-retryably. */
export interface InjectFailure {
  stage: FailoverStageName;
  step?: string;
}

/** Everything a failover needs, resolved by the API (or the monitor) from strata.yaml at request time. */
export interface FailoverInput {
  id: string;
  group: string;
  mode: FailoverMode;
  dryRun: boolean;
  reason?: string;
  requestedBy: string;
  trigger: 'api' | 'monitor' | 'cli';
  /** When the failover was decided (request or trigger time): the start of the measured RTO. */
  decidedAt: string;
  approvalPolicy: ApprovalPolicy;
  /** Side to fail over to; default: the side that is not active in the global state. */
  to?: FailoverSide;
  injectFailure?: InjectFailure;
  /** How long the global lock is held without renewal (default 15m, plus the approval timeout). */
  lockTtlMs?: number;
  /** How long target_activation waits for the target to report healthy (default 5m). */
  healthTimeoutMs?: number;
}

export interface Failover {
  id: string;
  group: string;
  from?: FailoverSide;
  to?: FailoverSide;
  fromRegion?: string;
  toRegion?: string;
  mode: FailoverMode;
  dryRun: boolean;
  status: FailoverStatus;
  trigger: FailoverInput['trigger'];
  requestedBy: string;
  reason?: string;
  decidedAt: string;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  stages: FailoverStage[];
  /** Decision → target serving traffic (health verified after the DNS switch). */
  rtoSeconds?: number;
  /** Replication lag observed just before promotion: the data written in that window may be lost. */
  rpoSeconds?: number;
  rpoSource?: 'reported' | 'checkpoint' | 'unknown';
  /** Global-state epoch after completion (every failover of a group increments it once). */
  epoch?: number;
  readiness: ReadinessCheck[];
  plan: PlannedAction[];
  compensations: CompensationRecord[];
  approvals: Approval[];
  approvalsRequired: number;
  rejection?: Rejection;
  /** Decisions the approval gate refused, with the identity they claimed. */
  refusedDecisions?: RefusedDecision[];
  approvalExpiresAt?: string;
  error?: FailoverError;
  /**
   * What the run left for a human, one line per step (`<stage>/<step>: what to do`): set whenever the run ended
   * without reaching a clean state on its own (needs_attention, a rolled_back with a manual compensation, failed).
   */
  manualSteps?: string[];
  events: { ts: string; level: 'info' | 'warn' | 'error'; message: string }[];
}

/** The full `Failover` of a run (the API's GET /failovers/:id). */
export const failoverStatusQuery = defineQuery<Failover>('status');

/** Public failover ids carry their group: `<group>-<12 hex>`, so GET /failovers/:id finds the workflow. */
export const FAILOVER_ID_PATTERN = /^(.+)-([0-9a-f]{12})$/;

/** Builds a failover id from a group and any hex-ish random string (uuid4 in workflows, randomUUID in the API). */
export function newFailoverId(group: string, random: string): string {
  return `${group}-${random.replace(/-/g, '').slice(0, 12).toLowerCase()}`;
}

/** The group a failover id belongs to, or undefined for a malformed id. */
export function failoverGroupOf(id: string): string | undefined {
  return FAILOVER_ID_PATTERN.exec(id)?.[1];
}

/** Workflow ids: one prefix per group keeps `temporal workflow list` readable. */
export function failoverWorkflowId(group: string, id: string): string {
  return `strata-failover/${group}/${id}`;
}

/** The KindKey search attribute value of failover runs (the API's "already running?" visibility check uses it). */
export const FAILOVER_KIND = 'failover';
