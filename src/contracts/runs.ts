/** Types, queries and ids of the runs that change a stack: deployment, rollback and destroy share one shape. */
import { defineQuery } from '@temporalio/workflow';
import type { Approval, ApprovalPolicy, RefusedDecision, Rejection } from './approval';

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
}

export interface PlanView {
  add: number;
  change: number;
  destroy: number;
  planHash: string;
  risk: Risk;
  resources: { address: string; type: string; action: string }[];
  notes?: string[];
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
  completedAt?: string;
  queuePosition?: number;
  plan?: PlanView;
  approvals: Approval[];
  approvalsRequired: number;
  rejection?: Rejection;
  /** Decisions the approval gate refused (unsigned, forged, stale), with the identity they claimed. */
  refusedDecisions?: RefusedDecision[];
  approvalExpiresAt?: string;
  resources: ResourceView[];
  outputs: Record<string, unknown>;
  stateVersion?: number;
  error?: RunError;
  /** Automatic rollback after a failed apply/verify: what it restored and how it ended. */
  rollback?: { toVersion?: number; status: 'succeeded' | 'failed' | 'skipped'; stateVersion?: number; error?: RunError };
  /** When each apply started and ended (the per-stack lock guarantees these never overlap). */
  applyStartedAt?: string;
  applyCompletedAt?: string;
  /** Workflow-level events (status changes, approvals); the executors' tool logs are stored beside the run. */
  events: RunEvent[];
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
