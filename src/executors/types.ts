/**
 * The one interface every IaC engine sits behind. Activities call it; workflows never see it.
 *
 * Every method works from durable inputs: the config snapshot and the saved plan live in the artifact
 * store and the current state in the state store, so the worker that applies need not be the one that
 * planned. A worker-local directory is only a cache.
 */
import type { ArtifactStore } from '../store/artifact-store';
import type { StateStore } from '../store/state-store';

import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorKind,
  LogEntry,
  PlanSummary,
  StateSnapshot,
} from '../contracts/iac';

export type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  DriftedResource,
  ExecutorKind,
  LogEntry,
  PlanSummary,
  PlannedResource,
  ResourceAction,
  StateResource,
  StateSnapshot,
} from '../contracts/iac';

/** The counts a plan would show; hasChanges also covers output-only changes. */
export type PendingChanges = Pick<PlanSummary, 'add' | 'change' | 'destroy' | 'hasChanges'>;

/** Per-call facilities handed to an executor by the activity that wraps it. */
export interface ExecutorContext {
  stack: string;
  environment: string;
  /** Deployment/run id the call belongs to; names artifacts and the worker-local workspace. */
  runId: string;
  /** Worker-local scratch root; executors create `<workDir>/<stack>/<env>/<runId>` below it. */
  workDir: string;
  artifacts: ArtifactStore;
  state: StateStore;
  log: (entry: Omit<LogEntry, 'ts'> & { ts?: string }) => void;
  /** Keeps the activity alive; executors call it while a tool runs. */
  heartbeat: (details?: unknown) => void;
  /** Aborted when the activity is cancelled. */
  signal: AbortSignal;
  /**
   * Once `signal` aborted: whether the run itself asked for it (the workflow cancelled the activity), as opposed
   * to this worker shutting down, timing the attempt out locally, or the server no longer knowing it. Only the
   * run's own cancellation may interrupt an apply; otherwise the apply is handed over to the next attempt.
   * Absent: every abort is the run's.
   */
  cancelledByRun?: () => boolean;
  /**
   * Values of the variables given as `{ secret: NAME }`, by variable name, resolved by the activity for this call
   * only. They go to the tool (tofu: as TF_VAR_<name> of its process) and nowhere else: never into a snapshot, a
   * result, a log line or an error (the activity redacts those, but an executor must not rely on it).
   */
  secretValues?: Readonly<Record<string, string>>;
  /**
   * Someone reads this plan before it is applied (an approval, a dry run): write its human-readable diff to the run
   * log too, where a tool's machine-readable plan output leaves the attributes out.
   */
  readablePlan?: boolean;
}

/** What the stack's configuration is made of, captured once per run. */
export interface StackSpec {
  stack: string;
  environment: string;
  executor: ExecutorKind;
  /** Absolute path of the stack's source directory. */
  path: string;
  /** Stack defaults merged with the run's overrides. */
  variables: Record<string, unknown>;
  /** Simulated cloud: provider table from strata.yaml and the stack's provider failover order. */
  providers?: Record<string, { region: string; dryRun: boolean }>;
  failoverOrder?: string[];
  /** CloudFormation: region, endpoint override and stack name from the stack's `aws` config. */
  aws?: { region: string; endpoint?: string; stackName?: string };
  /** Kubernetes: kubeconfig file and context, default namespace, readiness timeout from the stack's config. */
  kubernetes?: { kubeconfig?: string; context?: string; namespace?: string; readinessTimeoutSeconds?: number };
}

/** A durable copy of the configuration that was planned: applying or rolling back uses exactly this. */
export interface IacExecutor {
  readonly kind: ExecutorKind;
  /** Captures the stack's config (copy, or synthesize) as a durable snapshot and checks it initializes. */
  prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot>;
  /** Plans the snapshot against the current state and saves the plan in the artifact store. */
  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary>;
  /**
   * What a plan of the snapshot against the current state would change, without saving that plan: post-apply
   * verification asks only whether anything is left to do. Optional: without it, `plan` answers.
   */
  pendingChanges?(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PendingChanges>;
  /** Plans the removal of everything in the current state. */
  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary>;
  /** Applies exactly the saved plan; PLAN_STALE (non-retryable) when the state moved since it was made. */
  apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult>;
  outputs(spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>>;
  snapshotState(spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot>;
  /** Refresh-only plan: what changed in the real world behind the state's back. */
  detectDrift(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport>;
}
