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

/**
 * The apply lease of a stack/environment: whoever runs a tool that changes its resources holds it and renews it,
 * so an attempt anywhere else knows an apply (perhaps an orphan of a dead worker) is under way and waits for its
 * release or its expiry instead of applying over it.
 */
export interface ApplyLease {
  runId: string;
  /** Random per acquisition: holding the token is holding the lease. */
  token: string;
  /** Where the holder runs (host and pid), for messages. */
  holder: string;
  /** 'acquired': no tool started yet; 'tool': a tool may be changing real resources. */
  phase: 'acquired' | 'tool';
  planHash?: string;
  /** How long the lease lasts without a renewal. */
  ttlMs: number;
  /** Bumped by every renewal: a waiter times the lease out on its own clock by watching it stand still. */
  seq: number;
  renewedAt: string;
  /** The run was cancelled while the lease's tool ran elsewhere: its watchdog interrupts the tool. */
  interrupt?: boolean;
  /** Set when the holder let go; the lease is then free. */
  released?: {
    at: string;
    by: string;
    /** 'state-stored': the tool's state is in the store; 'no-tool': none ran; 'state-unknown': what it did is not known. */
    outcome: 'state-stored' | 'no-tool' | 'state-unknown';
    stateSerial?: number;
  };
}

/** How another process (the watchdog beside a tool) opens the same state store. */
export type StateStoreConnection =
  | { kind: 'filesystem'; path: string; retainVersions: number }
  | {
      kind: 's3';
      bucket: string;
      prefix?: string;
      region?: string;
      endpoint?: string;
      forcePathStyle?: boolean;
      retainVersions: number;
    };

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
  getApplyLease(stack: string, environment: string): Promise<ApplyLease | undefined>;
  /**
   * Replaces the apply lease with what `update` returns for the lease stored now, atomically (compare-and-swap,
   * retried after a lost race, so `update` must depend on its argument only); undefined changes nothing.
   * Returns the lease as stored afterwards.
   */
  updateApplyLease(
    stack: string,
    environment: string,
    update: (current: ApplyLease | undefined) => ApplyLease | undefined,
  ): Promise<ApplyLease | undefined>;
  /** How another process opens this same store (credentials come from its environment). */
  connection(): StateStoreConnection;
  /** Newest first. */
  listVersions(stack: string, environment: string, limit?: number): Promise<StateVersion[]>;
  getVersion(stack: string, environment: string, version: number): Promise<StateVersion | undefined>;
  latestVersion(stack: string, environment: string): Promise<StateVersion | undefined>;
}
