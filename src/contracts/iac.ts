/**
 * What the IaC engines hand the sagas: config snapshots, plan summaries, apply results, drift reports.
 * Plain data, so workflows, activities, executors and the API share one definition.
 */

export type ExecutorKind = 'tofu' | 'cdktf' | 'simulated' | 'cloudformation' | 'kubernetes' | 'helm';
export type ResourceAction = 'create' | 'update' | 'delete' | 'replace' | 'no-op' | 'read';

export interface LogEntry {
  ts: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  resource?: string;
}

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
