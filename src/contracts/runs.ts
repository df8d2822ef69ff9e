/** Types, queries and ids of the runs that change a stack: deployment, rollback and destroy share one shape. */
import { defineQuery } from '@temporalio/workflow';
import type { Approval, ApprovalPolicy, RefusedDecision, Rejection } from './approval';
import type { ExecutorKind } from './iac';
import type { CostEstimate, PolicyOverride, PolicyReport } from './policy';

export type RunKind = 'deploy' | 'rollback' | 'destroy';

/** Every run status, in lifecycle order (wire values: never rename one). */
export const DEPLOYMENT_STATUSES = [
  'queued',
  'planning',
  'awaiting_approval',
  'applying',
  'verifying',
  'succeeded',
  'no_changes',
  'planned',
  'failed',
  'rolling_back',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export const TERMINAL_STATUSES: readonly DeploymentStatus[] = [
  'succeeded',
  'no_changes',
  'planned',
  'failed',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
];

export type Risk = 'low' | 'medium' | 'high';

/** Where a run waits in its stack's queue: `high` goes ahead of normal waiters, never ahead of the holder. */
export type RunPriority = 'normal' | 'high';

export interface HealthCheck {
  type: 'http' | 'replan' | 'output';
  equals?: unknown;
  output?: string;
  url?: string;
  expectStatus?: number;
  timeoutMs?: number;
  retries?: number;
}

/** Everything a run needs, resolved by the API from strata.yaml at request time (so the run is reproducible). */
export interface DeploymentInput {
  id: string;
  kind: RunKind;
  stack: string;
  environment: string;
  requestedBy: string;
  variables: Record<string, unknown>;
  dryRun: boolean;
  reason?: string;
  /** Rollback: the state version whose configuration is re-applied. */
  targetVersion?: number;
  /**
   * Drift remediation: the version that was current when the drift was found. Checked again under the lock;
   * if the stack has moved on since, the run ends without changes instead of reverting the newer version.
   */
  expectedCurrentVersion?: number;
  approvalPolicy: ApprovalPolicy;
  /** Environment policy: roll back automatically to the last good version after a failed apply/verify. */
  autoRollback: boolean;
  /** Environment has an approval gate (risk is "high" for destroys/replaces only there). */
  verify: HealthCheck[];
  createdAt: string;
  /** Queue position among the stack lock's waiters (default normal). */
  priority?: RunPriority;
  /** Explicit acknowledgements policies look for (`input.flags`), e.g. `allow_database_deletion`. */
  policyFlags?: Partial<Record<string, boolean>>;
  /** The environment lets an admin override a plan's policy denial (`environments.<env>.policy.allowOverride`). */
  allowPolicyOverride?: boolean;
  /** The release this run is a stack of. */
  releaseId?: string;
  /** The stack's executor, from strata.yaml when the run was asked for: how quick its steps are (see the saga). */
  executor?: ExecutorKind;
}

export interface PlanView {
  add: number;
  change: number;
  destroy: number;
  planHash: string;
  risk: Risk;
  resources: { address: string; type: string; action: string }[];
  notes?: string[];
  /** Monthly cost before/after/delta from the price table (src/contracts/policy.ts). */
  cost?: CostEstimate;
  /** What the policies in policies/ say about this plan. */
  policy?: PolicyReport;
  /** Outputs this plan changes, where the engine knows before applying. */
  outputChanges?: string[];
}

export interface ResourceView {
  address: string;
  type: string;
  action?: string;
  status: 'pending' | 'planned' | 'applied' | 'unchanged' | 'failed' | 'deleted';
}

export interface RunEvent {
  ts: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  resource?: string;
}

export interface RunError {
  code: string;
  message: string;
}

/** The `Deployment` of the HTTP API (GET /api/v1/deployments/:id), plus Strata's additions (kind, risk, rollback report, timings). */
export interface Deployment {
  id: string;
  kind: RunKind;
  stack: string;
  environment: string;
  status: DeploymentStatus;
  requestedBy: string;
  dryRun: boolean;
  reason?: string;
  targetVersion?: number;
  createdAt: string;
  updatedAt: string;
  /**
   * Counts the changes of this document: a reader that holds revision N holds exactly what the run says while its
   * memo still says N (runs recorded before revisions existed have none).
   */
  revision?: number;
  completedAt?: string;
  queuePosition?: number;
  plan?: PlanView;
  approvals: Approval[];
  approvalsRequired: number;
  rejection?: Rejection;
  /** An admin let this plan's policy denial go to approval. */
  policyOverride?: PolicyOverride;
  /** Decisions the approval gate refused (unsigned, forged, stale), with the identity they claimed. */
  refusedDecisions?: RefusedDecision[];
  approvalExpiresAt?: string;
  resources: ResourceView[];
  outputs: Record<string, unknown>;
  stateVersion?: number;
  error?: RunError;
  /** Automatic rollback after a failed apply/verify: what it restored and how it ended. */
  rollback?: {
    toVersion?: number;
    status: 'succeeded' | 'failed' | 'skipped';
    stateVersion?: number;
    error?: RunError;
  };
  /** When each apply started and ended (the per-stack lock guarantees these never overlap). */
  applyStartedAt?: string;
  applyCompletedAt?: string;
  /** Workflow-level events (status changes, approvals); the executors' tool logs are stored beside the run. */
  events: RunEvent[];
  priority?: RunPriority;
  /** The release this run is a stack of. */
  releaseId?: string;
}

/** The full `Deployment` of a run. */
export const statusQuery = defineQuery<Deployment>('status');

/** Workflow ids: one prefix per kind keeps `temporal workflow list` readable. */
export function deploymentWorkflowId(id: string): string {
  return `strata-run/${id}`;
}

export function runIdFromWorkflowId(workflowId: string): string {
  return workflowId.replace(/^strata-run\//, '');
}
