/** Wire definitions of ProgressiveRolloutWorkflow: input, state, statuses, Updates and the workflow-ID helper. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DecisionAssertion } from './approval';
import type { AnalysisSpec, RolloutStrategy } from './rollout-strategy';

export type { AnalysisSpec, RolloutStrategy } from './rollout-strategy';

/** Search-attribute `Kind` of rollouts. */
export const ROLLOUT_KIND = 'rollout';

/** `rollout/<id>`: one rollout per id; the id names the service so a reader sees what it is about. */
export function rolloutWorkflowId(id: string): string {
  return `rollout/${id}`;
}

export const ROLLOUT_STATUSES = [
  'provisioning',
  'progressing',
  'analyzing',
  'paused',
  'awaiting_promotion',
  'completing',
  'completed',
  'rolling_back',
  'rolled_back',
  'failed',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
export const ROLLOUT_TERMINAL_STATUSES: readonly RolloutStatus[] = ['completed', 'rolled_back', 'failed'];

export type RolloutProvider = 'simulated' | 'aws';

/** Blue (stable) and green (new) on AWS: an Auto Scaling group each, and their weighted record in one name. */
export interface AwsRolloutTarget {
  region: string;
  /** Hosted zone name or id. */
  hostedZone: string;
  recordName: string;
  blue: { asg: string; setIdentifier: string };
  green: { asg: string; setIdentifier: string };
}

export interface RolloutInput {
  id: string;
  /** The service (traffic target) whose versions are shifted. */
  service: string;
  /** Provider of the service's routing and capacity. */
  provider: RolloutProvider;
  /** Where the versions run on AWS (provider `aws`): two Auto Scaling groups behind weighted Route53 records. */
  aws?: AwsRolloutTarget;
  /** The version being rolled out beside today's stable one. */
  version: string;
  /** Instances the new version runs at full traffic (default: the stable version's). */
  capacity?: number;
  strategy: RolloutStrategy;
  requestedBy: string;
  /** Promote/pause/resume/abort must carry an assertion from a configured signer (the API signs for its caller). */
  signed?: boolean;
  reason?: string;
}

/** What one analysis measured and decided. */
export interface AnalysisResult {
  verdict: 'pass' | 'fail' | 'inconclusive';
  startedAt: string;
  completedAt: string;
  windowMs: number;
  /** Requests of the new version in the window. */
  samples?: number;
  errorRate?: number;
  latencyMs?: number;
  probes: { url: string; ok: boolean; status?: number; error?: string }[];
  source: 'simulated' | 'prometheus';
  /** Why it failed or was inconclusive, naming the measurement and its threshold. */
  reasons: string[];
}

/** One step of the plan, as it went. */
export interface RolloutStepRecord {
  index: number;
  /** Percent of traffic on the new version in this step. */
  weight: number;
  /** Instances of the new version during this step. */
  canaryCapacity: number;
  pauseMs?: number;
  /** A step that waits for a person (blue-green without autoPromote). */
  manualGate?: boolean;
  status: 'pending' | 'running' | 'paused' | 'analyzing' | 'succeeded' | 'failed' | 'skipped_pause' | 'aborted';
  startedAt?: string;
  /** When the weight took effect. */
  weightSetAt?: string;
  pauseEndsAt?: string;
  completedAt?: string;
  analysis?: AnalysisResult;
}

/** A decision taken on a rollout, with who took it and by which path. */
export interface RolloutEvent {
  at: string;
  kind: 'promote' | 'pause' | 'resume' | 'abort' | 'auto_abort' | 'step' | 'analysis' | 'completed' | 'rolled_back';
  by?: string;
  /** `api`, `slack`, `bot:<id>` for proven callers; `update` when signing was not required. */
  via?: string;
  step?: number;
  weight?: number;
  detail?: string;
}

export interface Rollout {
  id: string;
  service: string;
  version: string;
  /** The version that served all traffic before (and serves it again after a rollback). */
  stableVersion?: string;
  strategy: RolloutStrategy['type'];
  status: RolloutStatus;
  /** Index into `steps` of the step in progress (or the last one reached). */
  currentStep: number;
  /** Percent of traffic on the new version now. */
  weight: number;
  paused: boolean;
  promoted: boolean;
  steps: RolloutStepRecord[];
  events: RolloutEvent[];
  requestedBy: string;
  startedAt: string;
  completedAt?: string;
  /** Set on rolled_back: who or what aborted, and the failing measurement when an analysis did. */
  abort?: { by: string; at: string; reason: string; step: number; analysis?: AnalysisResult };
  error?: { code: string; message: string };
}

/** Promote, pause, resume or abort: who asks, and (where signing is required) the signer's proof. */
export interface RolloutActionInput {
  by: string;
  roles: string[];
  assertion?: DecisionAssertion;
  reason?: string;
}

export type RolloutAction = 'promote' | 'pause' | 'resume' | 'abort';

/** Skip every remaining pause (and accept an inconclusive analysis or a manual gate); analyses still run. */
export const promoteUpdate = defineUpdate<Rollout, [RolloutActionInput]>('promote');
/** Hold the current weight until resumed. */
export const pauseUpdate = defineUpdate<Rollout, [RolloutActionInput]>('pause');
/** Continue a paused rollout (re-runs an inconclusive analysis). */
export const resumeUpdate = defineUpdate<Rollout, [RolloutActionInput]>('resume');
/** Send all traffic back to stable and scale the new version down. */
export const abortUpdate = defineUpdate<Rollout, [RolloutActionInput]>('abort');
export const rolloutStatusQuery = defineQuery<Rollout>('rolloutStatus');

/** Roles that may take each action (admin may take all). */
export const ROLLOUT_ACTION_ROLES: Record<RolloutAction, string[]> = {
  // Promoting skips safety pauses: an approver's call, as approving a plan is.
  promote: ['approver'],
  pause: ['deployer', 'approver'],
  resume: ['deployer', 'approver'],
  // Anyone who may deploy may stop a deploy going wrong.
  abort: ['deployer', 'approver'],
};

/** Error types the Update validators raise; FORBIDDEN → 403, the rest → 409. */
export const ROLLOUT_ERRORS = {
  forbidden: 'FORBIDDEN',
  finished: 'ROLLOUT_FINISHED',
  notPaused: 'ROLLOUT_NOT_PAUSED',
  alreadyPaused: 'ROLLOUT_ALREADY_PAUSED',
} as const;

/** Requests per second a simulated service gets at 100 % (enough samples in a one-minute window). */
export const SIM_REQUESTS_PER_SECOND = 20;

/** Normalized analysis the workflow passes to the measuring activity. */
export interface AnalysisRequest {
  aws?: AwsRolloutTarget;
  service: string;
  provider: RolloutProvider;
  rolloutId: string;
  version: string;
  weight: number;
  windowMs: number;
  /** When the window began (the workflow waited it out on a durable timer). */
  windowStartedAt: string;
  spec: AnalysisSpec;
}

/** Where one rollout stands at the provider, as the activities report it. */
export interface TrafficSnapshot {
  stable: { version: string; capacity: number; weight: number };
  candidate?: { version: string; capacity: number; weight: number };
}

export interface ProvisionRequest {
  aws?: AwsRolloutTarget;
  rolloutId: string;
  service: string;
  provider: RolloutProvider;
  version: string;
}

export interface StepRequest {
  aws?: AwsRolloutTarget;
  rolloutId: string;
  service: string;
  provider: RolloutProvider;
  /** Percent of traffic on the new version. */
  weight: number;
  candidateCapacity: number;
  stableCapacity: number;
}

export interface RevertRequest {
  aws?: AwsRolloutTarget;
  rolloutId: string;
  service: string;
  provider: RolloutProvider;
  /** Stable's capacity before the rollout began (rolling batches took some of it away). */
  stableCapacity: number;
}
