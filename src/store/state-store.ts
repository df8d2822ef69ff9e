/**
 * Versioned state per stack/environment. "Current state" is the engine's working state (for OpenTofu,
 * the tfstate JSON) and is written after every apply, failed ones included, so nothing that exists in
 * the cloud is forgotten. A *version* is recorded only for a successful apply and is what rollback
 * restores from (its config snapshot, re-applied as a new run, never the raw state).
 */
export type StateVersionKind = 'deploy' | 'rollback' | 'destroy';

export interface StateVersion {
  version: number;
  stack: string;
  environment: string;
  deploymentId: string;
  kind: StateVersionKind;
  createdAt: string;
  planHash: string;
  /** For rollbacks: the version whose configuration was restored. */
  restoredFrom?: number;
  /** The configuration snapshot (artifact key + digest + variables) that produced this version. */
  config: { ref: string; digest: string; executor: string; variables: Record<string, unknown> };
  outputs: Record<string, unknown>;
  resources: { address: string; type: string }[];
  /** The engine state document at that version. */
  state: string;
}

export type NewStateVersion = Omit<StateVersion, 'version' | 'createdAt'> & { createdAt?: string };

export interface CurrentState {
  /** Engine state document (tfstate JSON for OpenTofu; the simulated cloud's own JSON). */
  body: string;
  serial: number;
  lineage: string;
  /** Run id of the last writer: a retried apply recognises state moved by its own earlier attempt. */
  updatedBy?: string;
}

/** The current state a writer read before it wrote: its serial and lineage, or 'absent' when there was none. */
export type ExpectedState = Pick<CurrentState, 'serial' | 'lineage'> | 'absent';

export interface StateStore {
  readonly retainVersions: number;
  getCurrentState(stack: string, environment: string): Promise<CurrentState | undefined>;
  /**
   * Compare-and-swap: writes `state` only if the store still holds `expected` (same serial and lineage, or
   * nothing), else throws STATE_CONFLICT (StrataError), so two writers from one base never silently overwrite
   * each other. Writing exactly what is already stored succeeds (a retried write whose first attempt landed).
   */
  putCurrentState(stack: string, environment: string, state: CurrentState, expected: ExpectedState): Promise<void>;
  /**
   * Records a new version (number = latest + 1) and prunes versions beyond retention. Idempotent per
   * (deploymentId, kind): a retry gets the version already recorded, with its number.
   */
  recordVersion(v: NewStateVersion): Promise<StateVersion>;
  /** Newest first. */
  listVersions(stack: string, environment: string, limit?: number): Promise<StateVersion[]>;
  getVersion(stack: string, environment: string, version: number): Promise<StateVersion | undefined>;
  latestVersion(stack: string, environment: string): Promise<StateVersion | undefined>;
}
