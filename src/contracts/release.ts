/**
 * Multi-stack releases: several stacks of one environment in dependency order, as topological waves of child
 * deployment runs. Types, statuses, the status query and the workflow id shared by the workflow, the gateway
 * and the API.
 */
import { defineQuery } from '@temporalio/workflow';
import type { Approval, ApprovalPolicy, Rejection } from './approval';
import type { CostEstimate, PolicyOverride, PolicyResult } from './policy';
import type { DeploymentInput, DeploymentStatus, Risk, RunError, RunEvent } from './runs';

/** `stop`: nothing new starts after a failure; `rollback`: then the stacks this release changed are rolled back. */
export type ReleaseOnFailure = 'stop' | 'rollback';

/** `release`: one approval for the whole release, after every stack is planned; `stack`: each run per its environment. */
export type ReleaseApprovalMode = 'release' | 'stack';

/**
 * The role a release's passed-on decisions carry. No person holds it (it is not a configurable role), so a run
 * whose approval is delegated to its release can be approved only by that release (or an admin).
 */
export const RELEASE_ROLE = 'release';

/** One stack of a release as requested: `inputs` wires a variable to another stack's output (`"network.vpc_id"`). */
export interface ReleaseStackRequest {
  stack: string;
  variables?: Record<string, unknown>;
  inputs?: Record<string, string>;
}

/** `from` runs (and must succeed) before `to`. */
export interface ReleaseEdge {
  from: string;
  to: string;
}

/** A release as requested (POST /api/v1/releases or a releases/<name>.yaml file). */
export interface ReleaseRequest {
  environment: string;
  stacks: ReleaseStackRequest[];
  dependencies?: ReleaseEdge[];
  maxParallel?: number;
  onFailure?: ReleaseOnFailure;
  dryRun?: boolean;
  approval?: ReleaseApprovalMode;
}

/** A variable fed by an upstream stack's output. */
export interface ReleaseInputRef {
  variable: string;
  stack: string;
  output: string;
  /** The stack declares a default for the variable: a preview may leave it out while the output is unknown. */
  hasDefault: boolean;
  /** The variable takes text: a preview can plan with a "(known after apply: ...)" placeholder, as OpenTofu shows it. */
  takesText: boolean;
}

/** One stack as the workflow runs it: its resolved run input (policies frozen at request time) and its wiring. */
export interface ReleaseStackPlan {
  stack: string;
  wave: number;
  /** Stacks that must succeed first (explicit dependencies and `inputs` references). */
  dependsOn: string[];
  inputs: ReleaseInputRef[];
  /** The DeploymentInput the API builds for a single run (src/shared/run-input.ts); id and variables are set per run. */
  run: DeploymentInput;
}

/** Everything the release workflow needs, resolved and validated by the API. */
export interface ReleaseInput {
  id: string;
  name?: string;
  environment: string;
  requestedBy: string;
  createdAt: string;
  waves: string[][];
  edges: ReleaseEdge[];
  stacks: ReleaseStackPlan[];
  maxParallel: number;
  onFailure: ReleaseOnFailure;
  dryRun: boolean;
  approval: ReleaseApprovalMode;
  /** The environment's approval policy: the release gate's, in `release` mode. */
  approvalPolicy: ApprovalPolicy;
  /** Approval of the rollback runs after a failure (none where the environment rolls back automatically). */
  rollbackApprovalPolicy: ApprovalPolicy;
  allowPolicyOverride: boolean;
}

/** Release statuses (wire values: never rename one). */
export const RELEASE_STATUSES = [
  'planning',
  'awaiting_approval',
  'running',
  'succeeded',
  'planned',
  'failed',
  'rolling_back',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
] as const;
/** A release's status. */
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

/** Statuses a release does not leave. */
export const TERMINAL_RELEASE_STATUSES: readonly ReleaseStatus[] = [
  'succeeded',
  'planned',
  'failed',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
];

/** A stack's status in a release: its run's status, or `pending` (not started) and `skipped` (never started). */
export type ReleaseStackStatus = DeploymentStatus | 'pending' | 'skipped';

/** A stack's plan as the release approver sees it. */
export interface ReleaseStackPlanView {
  add: number;
  change: number;
  destroy: number;
  planHash: string;
  risk: Risk;
  cost?: CostEstimate;
  policy?: { results: PolicyResult[] };
  outputChanges?: string[];
}

/** One stack of a release: graph position, its runs, and how it went. */
export interface ReleaseStack {
  stack: string;
  wave: number;
  dependsOn: string[];
  /** `variable ← stack.output`. */
  inputs: Record<string, string>;
  status: ReleaseStackStatus;
  /** The deployment run (every /api/v1/deployments/:id route works with it). */
  runId?: string;
  /** The dry-run plan the release approval was given on. */
  previewRunId?: string;
  plan?: ReleaseStackPlanView;
  /** Inputs whose value was not known when the release was planned (the upstream changes them). */
  knownAfterApply?: string[];
  outputs?: Record<string, unknown>;
  /** State version before this release touched the stack (what a rollback returns to). */
  previousVersion?: number;
  stateVersion?: number;
  applyStartedAt?: string;
  applyCompletedAt?: string;
  /** Why it was skipped, or what failed. */
  reason?: string;
  error?: RunError;
  rollback?: {
    runId?: string;
    toVersion?: number;
    status: DeploymentStatus | 'skipped';
    reason?: string;
    stateVersion?: number;
  };
}

/** A policy finding on one stack of a release. */
export interface ReleasePolicyResult extends PolicyResult {
  stack: string;
}

/** An output a plan changes and the downstream stacks that consume it. */
export interface ReleaseImpact {
  stack: string;
  output: string;
  consumers: { stack: string; variable: string }[];
  /** False when the engine cannot say before applying: the output may change. */
  known: boolean;
}

/** The release as GET /api/v1/releases/:id shows it. */
export interface Release {
  id: string;
  name?: string;
  environment: string;
  status: ReleaseStatus;
  requestedBy: string;
  dryRun: boolean;
  approval: ReleaseApprovalMode;
  onFailure: ReleaseOnFailure;
  maxParallel: number;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  waves: string[][];
  edges: ReleaseEdge[];
  stacks: ReleaseStack[];
  /** Highest risk of its stacks' plans. */
  risk?: Risk;
  /** Sum of the stacks' estimates (unpriced addresses prefixed with their stack). */
  cost?: CostEstimate;
  policy?: { deny: number; warn: number; results: ReleasePolicyResult[] };
  impact: ReleaseImpact[];
  /** The digest of every stack's plan the release approval is bound to. */
  planHash?: string;
  approvals: Approval[];
  approvalsRequired: number;
  rejection?: Rejection;
  approvalExpiresAt?: string;
  policyOverride?: PolicyOverride;
  /** Set while the release waits for approval of one stack whose plan changed since the release was approved. */
  reapproval?: { stack: string; reason: string };
  error?: RunError;
  events: RunEvent[];
}

/** The full `Release`. */
export const releaseStatusQuery = defineQuery<Release>('releaseStatus');

/** One workflow per release: `strata-release/<id>`. */
export function releaseWorkflowId(id: string): string {
  return `strata-release/${id}`;
}

/** The release id of a release workflow id. */
export function releaseIdFromWorkflowId(workflowId: string): string {
  return workflowId.replace(/^strata-release\//, '');
}

/** Run ids of a release's runs: readable, and derived from the release id, so a replay starts the same children. */
export function releaseRunId(releaseId: string, stack: string, phase: 'plan' | 'apply' | 'rollback'): string {
  return phase === 'apply' ? `${releaseId}.${stack}` : `${releaseId}.${stack}.${phase}`;
}
