/**
 * The release workflow's pure steps: bounded parallelism, wiring outputs into dependents' variables, the
 * comparison of a run's plan with the plan the release was approved on, and the release-wide summaries (risk,
 * cost, policy, impact). No I/O and no clock: safe to replay.
 */
import type { CostEstimate } from '../contracts/policy';
import type {
  ReleaseEdge,
  ReleaseImpact,
  ReleasePolicyResult,
  ReleaseStack,
  ReleaseStackPlan,
} from '../contracts/release';
import type { PlanView, Risk } from '../contracts/runs';

/**
 * Runs `run` over `items`, at most `limit` at a time, in order. Once `stopped()` turns true nothing new starts
 * (`skip` is told instead); everything started is awaited, and the first error is rethrown after all settled.
 */
export async function boundedAll<T>(
  items: T[],
  limit: number,
  run: (item: T) => Promise<void>,
  stopped: () => boolean,
  skip: (item: T) => void,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++];
      if (stopped()) {
        skip(item);
        continue;
      }
      try {
        await run(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (errors.length) throw errors[0];
}

/** Every stack that (transitively) depends on `stack`. */
export function downstreamOf(stack: string, edges: ReleaseEdge[]): Set<string> {
  const out = new Set<string>();
  const walk = (s: string) => {
    for (const e of edges) {
      if (e.from === s && !out.has(e.to)) {
        out.add(e.to);
        walk(e.to);
      }
    }
  };
  walk(stack);
  return out;
}

/** What is known about a stack's outputs: recorded values, and which of them this release may change. */
export interface KnownOutputs {
  values: Record<string, unknown>;
  /** Outputs that may differ after this release's apply: `all` when the engine cannot tell. */
  changing: Set<string> | 'all';
}

/** The variables an applied upstream gives: exact outputs, or the names that are missing. */
export function wireInputs(
  plan: ReleaseStackPlan,
  outputs: Map<string, Record<string, unknown>>,
): { variables: Record<string, unknown>; missing: string[] } {
  const variables: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const ref of plan.inputs) {
    const values = outputs.get(ref.stack) ?? {};
    if (values[ref.output] === undefined || values[ref.output] === null) missing.push(`${ref.stack}.${ref.output}`);
    else variables[ref.variable] = values[ref.output];
  }
  return { variables, missing };
}

/**
 * The variables a preview plans with. An output the upstream's own preview leaves alone is known: its recorded
 * value. One it changes is "known after apply", as OpenTofu shows a computed value: planned with a placeholder
 * where the variable takes text (so the preview shows what the new value will change), else with the recorded
 * value or the stack's default. Where the upstream's engine cannot say whether it changes, the recorded value is
 * the likelier one. The approval covers whatever value the upstream's apply then produces.
 */
export function previewInputs(
  plan: ReleaseStackPlan,
  known: Map<string, KnownOutputs>,
): { variables: Record<string, unknown>; unknown: string[] } {
  const variables: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const ref of plan.inputs) {
    const k = known.get(ref.stack);
    const recorded = k?.values[ref.output];
    const has = recorded !== undefined && recorded !== null;
    const changes = !k || !has || (k.changing !== 'all' && k.changing.has(ref.output));
    const maybe = k?.changing === 'all';
    if (has && !changes && !maybe) {
      variables[ref.variable] = recorded;
      continue;
    }
    unknown.push(ref.variable);
    const placeholder = `(known after apply: ${ref.stack}.${ref.output})`;
    if (changes && ref.takesText) variables[ref.variable] = placeholder;
    else if (has) variables[ref.variable] = recorded;
    else if (!ref.hasDefault) variables[ref.variable] = placeholder;
  }
  return { variables, unknown };
}

/** JSON with sorted keys: equal values compare equal whatever their key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The part of a plan an approver judges: which resources change how. */
export function changeSet(plan: Pick<PlanView, 'resources'>): string[] {
  return plan.resources.map((r) => `${r.action} ${r.address}`).sort();
}

/** What the release approval was given on, for one stack. */
export interface ApprovedPreview {
  changes: string[];
  variables: Record<string, unknown>;
  unknown: string[];
}

/**
 * Why the run's plan is not the one the release was approved on, or undefined when it is: the same resources
 * change the same way, and every variable known at preview time has the same value now.
 */
export function planMismatch(
  preview: ApprovedPreview,
  plan: Pick<PlanView, 'resources'>,
  variables: Record<string, unknown>,
): string | undefined {
  const now = changeSet(plan);
  if (now.join('\n') !== preview.changes.join('\n')) {
    const added = now.filter((c) => !preview.changes.includes(c));
    const gone = preview.changes.filter((c) => !now.includes(c));
    return `the plan changed since the release was approved (${[...added.map((c) => `now ${c}`), ...gone.map((c) => `no longer ${c}`)].join(', ')})`;
  }
  for (const [name, value] of Object.entries(preview.variables)) {
    if (preview.unknown.includes(name)) continue;
    if (stableJson(variables[name]) !== stableJson(value))
      return `variable ${name} is ${stableJson(variables[name])} now, ${stableJson(value)} when the release was approved`;
  }
  return undefined;
}

/** A short, stable digest (53-bit cyrb53, hex) of the stacks' plan hashes: what the release approval is bound to. */
export function releaseDigest(parts: string[]): string {
  const str = parts.join('\n');
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `release-${(4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0')}`;
}

const RISK_ORDER: Risk[] = ['low', 'medium', 'high'];

/** The highest risk among the stacks' plans. */
export function highestRisk(stacks: ReleaseStack[]): Risk | undefined {
  const risks = stacks.map((s) => s.plan?.risk).filter((r): r is Risk => Boolean(r));
  return risks.length ? risks.reduce((a, b) => (RISK_ORDER.indexOf(b) > RISK_ORDER.indexOf(a) ? b : a)) : undefined;
}

const cents = (n: number) => Math.round(n * 100) / 100;

/** The sum of the stacks' estimates; unpriced addresses carry their stack (`sim-app: aws_bucket.assets`). */
export function releaseCost(stacks: ReleaseStack[]): CostEstimate | undefined {
  const priced = stacks.filter((s) => s.plan?.cost);
  if (!priced.length) return undefined;
  const sum = (f: (c: CostEstimate) => number) => cents(priced.reduce((t, s) => t + f(s.plan!.cost!), 0));
  const tables = [...new Set(priced.map((s) => s.plan!.cost!.priceTable))];
  return {
    monthlyBefore: sum((c) => c.monthlyBefore),
    monthlyAfter: sum((c) => c.monthlyAfter),
    monthlyDelta: sum((c) => c.monthlyDelta),
    currency: priced[0].plan!.cost!.currency,
    unpriced: priced.flatMap((s) => s.plan!.cost!.unpriced.map((a) => `${s.stack}: ${a}`)),
    priceTable: tables.join(', '),
  };
}

/** Every stack's policy findings, with counts. */
export function releasePolicy(
  stacks: ReleaseStack[],
): { deny: number; warn: number; results: ReleasePolicyResult[] } | undefined {
  const judged = stacks.filter((s) => s.plan?.policy);
  if (!judged.length) return undefined;
  const results = judged.flatMap((s) => s.plan!.policy!.results.map((r) => ({ ...r, stack: s.stack })));
  return {
    deny: results.filter((r) => r.level === 'deny').length,
    warn: results.filter((r) => r.level === 'warn').length,
    results,
  };
}

/**
 * Outputs a stack's plan changes that a downstream stack consumes. Where the engine named the outputs its plan
 * changes, exactly those; where it could not, every consumed output of a stack that changes at all (`known: false`).
 */
export function releaseImpact(stacks: ReleaseStack[], plans: ReleaseStackPlan[]): ReleaseImpact[] {
  const out: ReleaseImpact[] = [];
  for (const s of stacks) {
    if (!s.plan) continue;
    if (s.plan.add + s.plan.change + s.plan.destroy === 0 && !s.plan.outputChanges?.length) continue;
    const consumed = new Map<string, { stack: string; variable: string }[]>();
    for (const p of plans) {
      for (const ref of p.inputs) {
        if (ref.stack === s.stack)
          consumed.set(ref.output, [...(consumed.get(ref.output) ?? []), { stack: p.stack, variable: ref.variable }]);
      }
    }
    for (const [output, consumers] of consumed) {
      const known = s.plan.outputChanges !== undefined;
      if (known && !s.plan.outputChanges!.includes(output)) continue;
      out.push({ stack: s.stack, output, consumers, known });
    }
  }
  return out;
}
