/**
 * The one interface every IaC engine sits behind. Activities call it; workflows never see it.
 *
 * Every method works from durable inputs: the config snapshot and the saved plan live in the artifact
 * store and the current state in the state store, so the worker that applies need not be the one that
 * planned. A worker-local directory is only a cache.
 */
import type { ArtifactStore } from '../store/artifact-store';
import type { StateStore } from '../store/state-store';

export type ExecutorKind = 'tofu' | 'cdktf' | 'simulated';
export type ResourceAction = 'create' | 'update' | 'delete' | 'replace' | 'no-op' | 'read';

export interface LogEntry {
  ts: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  resource?: string;
}

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
}

/** A durable copy of the configuration that was planned: applying or rolling back uses exactly this. */
export interface ConfigSnapshot {
  /** Artifact key of the snapshot (a JSON document of files, or the simulated desired state). */
  ref: string;
  /** sha256 of the snapshot's content. */
  digest: string;
  executor: ExecutorKind;
  variables: Record<string, unknown>;
}

export interface PlannedResource {
  address: string;
  type: string;
  action: ResourceAction;
  provider?: string;
}

export interface PlanSummary {
  /** Artifact key of the saved plan. */
  planRef: string;
  /** sha256 of the saved plan's bytes: approvals name this hash. */
  planHash: string;
  add: number;
  change: number;
  destroy: number;
  hasChanges: boolean;
  destroyPlan: boolean;
  resources: PlannedResource[];
  /** State the plan was made against; apply refuses the plan when the state moved since. */
  stateSerial: number;
  stateLineage: string;
  config: ConfigSnapshot;
  /** Provider failover decisions taken while planning (simulated cloud). */
  notes?: string[];
}

export interface StateResource {
  address: string;
  type: string;
  provider?: string;
  attributes?: Record<string, unknown>;
}

export interface ApplyResult {
  outputs: Record<string, unknown>;
  resources: StateResource[];
  stateSerial: number;
  stateLineage: string;
  durationMs: number;
}

export interface DriftedResource {
  address: string;
  type: string;
  change: 'modified' | 'deleted' | 'added';
  severity: 'low' | 'medium' | 'high' | 'critical';
}

export interface DriftReport {
  scannedAt: string;
  drifted: boolean;
  resources: DriftedResource[];
}

export interface StateSnapshot {
  serial: number;
  lineage: string;
  resources: StateResource[];
  outputs: Record<string, unknown>;
}

export interface IacExecutor {
  readonly kind: ExecutorKind;
  /** Captures the stack's config (copy, or synthesize) as a durable snapshot and checks it initializes. */
  prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot>;
  /** Plans the snapshot against the current state and saves the plan in the artifact store. */
  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary>;
  /** Plans the removal of everything in the current state. */
  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary>;
  /** Applies exactly the saved plan; PLAN_STALE (non-retryable) when the state moved since it was made. */
  apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult>;
  outputs(spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>>;
  snapshotState(spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot>;
  /** Refresh-only plan: what changed in the real world behind the state's back. */
  detectDrift(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport>;
}
