/**
 * Reading what OpenTofu/Terraform writes: `show -json <plan>` documents and raw tfstate (format v4).
 * Both formats are documented and stable across Terraform ≥0.12 and every OpenTofu release.
 */
import type { DriftedResource, PlannedResource, ResourceAction, StateResource } from '../types';

interface JsonChange {
  address: string;
  type: string;
  mode?: string;
  provider_name?: string;
  change: { actions: string[] };
}

/** The parts of `show -json <plan>` Strata reads. */
export interface PlanJson {
  resource_changes?: JsonChange[];
  resource_drift?: JsonChange[];
  output_changes?: Record<string, { actions: string[] }>;
}

/** Maps a change's action list to one action; delete+create in either order is a replacement. */
export function toAction(actions: string[]): ResourceAction {
  if (actions.length === 2 && actions.includes('delete') && actions.includes('create')) return 'replace';
  const a = actions[0];
  if (a === 'create' || a === 'update' || a === 'delete' || a === 'read') return a;
  return 'no-op';
}

export interface PlanCounts {
  add: number;
  change: number;
  destroy: number;
  hasChanges: boolean;
  resources: PlannedResource[];
}

/** Counts the way the tool's own "Plan: X to add, Y to change, Z to destroy" line does. */
export function summarizePlan(plan: PlanJson): PlanCounts {
  let add = 0;
  let change = 0;
  let destroy = 0;
  const resources: PlannedResource[] = [];
  for (const rc of plan.resource_changes ?? []) {
    // Data sources are read, not managed: they never count as changes.
    if (rc.mode === 'data') continue;
    const action = toAction(rc.change.actions);
    if (action === 'no-op' || action === 'read') continue;
    if (action === 'create' || action === 'replace') add++;
    if (action === 'update') change++;
    if (action === 'delete' || action === 'replace') destroy++;
    resources.push({ address: rc.address, type: rc.type, action, provider: rc.provider_name });
  }
  // An output-only change still needs an apply to be recorded, as the tool itself reports it.
  const outputsChange = Object.values(plan.output_changes ?? {}).some((c) => toAction(c.actions) !== 'no-op');
  return { add, change, destroy, hasChanges: add + change + destroy > 0 || outputsChange, resources };
}

/** One line of `plan -json` (the tool's machine-readable UI stream): only the message kinds Strata reads. */
interface UiMessage {
  type?: string;
  '@level'?: string;
  '@message'?: string;
  change?: {
    action?: string;
    resource?: { addr?: string; resource_type?: string; implied_provider?: string };
  };
  changes?: { add: number; change: number; remove: number };
  outputs?: Record<string, { action?: string }>;
  diagnostic?: { severity?: string; summary?: string; detail?: string };
}

/** Reads a `plan -json` stream line by line: the run log gets the human text, the summary is built on the way. */
export interface PlanStream {
  onLine(line: string): void;
  /** The plan's counts; undefined when the stream had no change summary (then `show -json` is the fallback). */
  counts(): PlanCounts | undefined;
  /** The error diagnostics the tool reported, as text. */
  errors(): string[];
}

/**
 * The plan's summary from its own stream: one pass of the tool instead of a plan and a second process reading the
 * plan back. `planned_change` messages name the resources with a change; the `change_summary` line carries the
 * counts and says the stream is whole.
 */
export function createPlanStream(log: (level: 'info' | 'warn' | 'error', message: string) => void): PlanStream {
  const changes = new Map<string, PlannedResource>();
  let summary: UiMessage['changes'];
  let outputsChange = false;
  const errors: string[] = [];
  return {
    onLine(line) {
      let m: UiMessage;
      try {
        m = JSON.parse(line) as UiMessage;
      } catch {
        if (line.trim()) log('info', line);
        return;
      }
      if (m.type === 'diagnostic' && m.diagnostic) {
        const text = [m.diagnostic.summary, m.diagnostic.detail].filter(Boolean).join(': ');
        if (m.diagnostic.severity === 'error') errors.push(text);
        log(m.diagnostic.severity === 'error' ? 'error' : 'warn', text);
        return;
      }
      if (m['@message'] && m.type !== 'version') log('info', m['@message']);
      if (m.type === 'planned_change' && m.change?.resource?.addr) {
        const r = m.change.resource;
        const action = toAction(m.change.action === 'replace' ? ['delete', 'create'] : [m.change.action ?? 'no-op']);
        // Data sources are read, not managed, and moves/imports/forgets alone change no infrastructure.
        if (action === 'no-op' || action === 'read') return;
        changes.set(r.addr!, { address: r.addr!, type: r.resource_type ?? '', action, provider: r.implied_provider });
      } else if (m.type === 'change_summary' && m.changes) {
        summary = m.changes;
      } else if (m.type === 'outputs' && m.outputs) {
        outputsChange = Object.values(m.outputs).some((o) => o.action !== undefined && o.action !== 'noop');
      }
    },
    counts() {
      if (!summary) return undefined;
      // The counts are the tool's own (its "Plan: X to add…" line, deposed objects included); the list names them.
      const { add, change, remove: destroy } = summary;
      return {
        add,
        change,
        destroy,
        hasChanges: add + change + destroy > 0 || outputsChange,
        resources: [...changes.values()],
      };
    },
    errors: () => errors,
  };
}

/**
 * How bad a drifted resource is, guessed from its type: a heuristic, since the tool cannot know what
 * matters to the business. Data stores and identity/security rank highest (drift there loses data or
 * opens access), then network and DNS (outages), then everything else (compute is replaceable). The
 * local/random/null/time helpers are bookkeeping. A deletion ranks one step above a modification.
 */
export function driftSeverity(type: string, change: DriftedResource['change']): DriftedResource['severity'] {
  const deleted = change === 'deleted';
  if (/^(local|random|null|time)_|^terraform_data$/.test(type)) return 'low';
  if (/_db_|_rds_|dynamodb|s3_bucket|_sql|database|_kms_|_iam_|security_group|secret/.test(type)) {
    return deleted ? 'critical' : 'high';
  }
  if (/route53|_dns|_vpc|subnet|_lb|load_balancer|_route|gateway|firewall/.test(type))
    return deleted ? 'high' : 'medium';
  return deleted ? 'medium' : 'low';
}

/** Resources the real world changed behind the state's back, from a refresh-only plan. */
export function driftedResources(plan: PlanJson): DriftedResource[] {
  const out: DriftedResource[] = [];
  for (const d of plan.resource_drift ?? []) {
    if (d.mode === 'data') continue;
    const action = toAction(d.change.actions);
    const change =
      action === 'delete' ? 'deleted' : action === 'create' ? 'added' : action === 'no-op' ? null : 'modified';
    if (!change) continue;
    out.push({ address: d.address, type: d.type, change, severity: driftSeverity(d.type, change) });
  }
  return out;
}

interface TfState {
  serial?: number;
  lineage?: string;
  outputs?: Record<string, { value: unknown; sensitive?: boolean }>;
  resources?: {
    module?: string;
    mode: string;
    type: string;
    name: string;
    provider?: string;
    instances?: { index_key?: string | number; attributes?: Record<string, unknown> }[];
  }[];
}

/** Parsed tfstate: serial/lineage, resource instances by address, and outputs. */
export interface ParsedState {
  serial: number;
  lineage: string;
  resources: StateResource[];
  outputs: Record<string, unknown>;
}

/** Placeholder for sensitive outputs: outputs travel through workflow history, secrets must not. */
export const SENSITIVE = '(sensitive)';

function indexSuffix(key: string | number | undefined): string {
  if (key === undefined) return '';
  return typeof key === 'number' ? `[${key}]` : `[${JSON.stringify(key)}]`;
}

/**
 * Reads a tfstate document directly rather than through `show -json`: that needs an initialized workspace
 * with the providers the state names, and any worker must be able to answer "what is deployed".
 */
export function parseState(body: string | undefined): ParsedState {
  if (!body) return { serial: 0, lineage: '', resources: [], outputs: {} };
  const s = JSON.parse(body) as TfState;
  const resources: StateResource[] = [];
  for (const r of s.resources ?? []) {
    if (r.mode !== 'managed') continue;
    const base = `${r.module ? `${r.module}.` : ''}${r.type}.${r.name}`;
    for (const inst of r.instances ?? []) {
      resources.push({
        address: base + indexSuffix(inst.index_key),
        type: r.type,
        provider: r.provider,
        attributes: inst.attributes,
      });
    }
  }
  const outputs: Record<string, unknown> = {};
  for (const [k, o] of Object.entries(s.outputs ?? {})) outputs[k] = o.sensitive ? SENSITIVE : o.value;
  return { serial: s.serial ?? 0, lineage: s.lineage ?? '', resources, outputs };
}
