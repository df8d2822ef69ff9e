/** Documents the simulated cloud persists: its state (like tfstate), saved plans, and the cloud's "reality". */
import { createHash } from 'node:crypto';
import type { ResourceAction } from '../types';
import type { ResourceKind, StackDefinition } from './definition';

/** A resource as state records it (and as a plan proposes it). */
export interface SimResource {
  /** `aws_instance.web[0]`, `gcp_bucket.assets`, ... */
  address: string;
  type: string;
  kind: ResourceKind;
  provider: string;
  region: string;
  /** Deterministic: derived from stack/env/provider/region/address and force-new attributes. */
  id: string;
  attributes: Record<string, unknown>;
  /** `simulated` = recorded by a dry-run provider; nothing exists in the simulated cloud. */
  status: 'running' | 'simulated';
}

/** Marks an apply in progress, so a retry of the same saved plan resumes instead of being refused as stale. */
export interface ApplyMarker {
  planHash: string;
  runId: string;
  baseSerial: number;
  baseLineage: string;
}

/** The body stored as CurrentState.body. */
export interface SimState {
  format: 'strata-sim-state/1';
  serial: number;
  lineage: string;
  resources: SimResource[];
  outputs: Record<string, unknown>;
  applying?: ApplyMarker;
}

export type ChangeAction = Exclude<ResourceAction, 'no-op' | 'read'>;

export interface PlannedChange {
  address: string;
  type: string;
  kind: ResourceKind;
  action: ChangeAction;
  provider: string;
  region: string;
  before?: SimResource;
  after?: SimResource;
  /** Human-readable why: `instance_type: small → large`, `region us-west-1 → us-east-1 forces replacement`. */
  reason: string;
}

/** Fault injection knobs read from stack variables (README.md#fault-injection). */
export interface Faults {
  failApplyOnResource: number;
  latencyMsPerResource: number;
  unavailableProviders: string[];
  driftAfterApply: boolean;
  failVerify: boolean;
}

export type ProviderTable = Record<string, { region: string; dryRun: boolean }>;

/** The saved plan: apply executes exactly `changes`, in order. */
export interface PlanDocument {
  format: 'strata-sim-plan/1';
  stack: string;
  environment: string;
  runId: string;
  destroy: boolean;
  stateSerial: number;
  stateLineage: string;
  config: { ref: string; digest: string };
  /** Chosen provider (absent for destroy plans). */
  provider?: string;
  region?: string;
  providers: ProviderTable;
  faults: Faults;
  changes: PlannedChange[];
  /** Addresses left in state because their provider is unavailable. */
  deferred: string[];
  /** The outputs the apply will publish, and which of them differ from the current ones. */
  outputs: Record<string, unknown>;
  outputChanges: string[];
  notes: string[];
}

/** What "really" exists in the simulated cloud for one stack/env, by resource id. */
export interface Reality {
  format: 'strata-sim-cloud/1';
  resources: Record<string, SimResource>;
}

/** What `runs/<runId>/config.json` holds for the simulated executor. */
export interface ConfigDocument {
  format: 'strata-sim-config/1';
  stack: string;
  source: string;
  definition: StackDefinition;
  variables: Record<string, unknown>;
}

/** Hex sha256. */
export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with sorted keys, so equal values compare equal regardless of key order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Deep equality through stableStringify. */
export function sameValue(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}

const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/** Reads the fault knobs; stacks that do not declare them get everything off. */
export function readFaults(vars: Record<string, unknown>): Faults {
  const list = vars.unavailable_providers;
  return {
    failApplyOnResource: Math.max(0, Math.floor(num(vars.fail_apply_on_resource, 0))),
    latencyMsPerResource: Math.max(0, num(vars.latency_ms_per_resource, 0)),
    unavailableProviders: Array.isArray(list) ? list.map(String) : [],
    driftAfterApply: vars.drift_after_apply === true,
    failVerify: vars.fail_verify === true,
  };
}
