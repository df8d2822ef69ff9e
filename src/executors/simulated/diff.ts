/** Refresh (state vs the simulated cloud) and diff (desired vs refreshed state) into ordered changes. */
import { compareResources, FORCE_NEW } from './desired';
import { sameValue, type PlannedChange, type Reality, type SimResource } from './model';

export interface RefreshResult {
  resources: SimResource[];
  /** Resources that vanished from the cloud behind the state's back. */
  vanished: SimResource[];
  /** Resources whose attributes changed in the cloud behind the state's back. */
  modified: { resource: SimResource; real: SimResource }[];
}

/**
 * The state as the cloud sees it now. Dry-run records and resources on unreachable providers are kept as
 * recorded (there is nothing to read, or no way to read it).
 */
export function refresh(resources: SimResource[], reality: Reality, reachable: Set<string>): RefreshResult {
  const out: RefreshResult = { resources: [], vanished: [], modified: [] };
  for (const r of resources) {
    if (r.status === 'simulated' || !reachable.has(r.provider)) {
      out.resources.push(r);
      continue;
    }
    const real = reality.resources[r.id];
    if (!real) {
      out.vanished.push(r);
    } else if (!sameValue(real.attributes, r.attributes)) {
      out.modified.push({ resource: r, real });
      out.resources.push({ ...r, attributes: real.attributes });
    } else {
      out.resources.push(r);
    }
  }
  return out;
}

function describe(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function changedAttributes(before: Record<string, unknown>, after: Record<string, unknown>, only?: string[]): string[] {
  const keys = only ?? [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((k) => !sameValue(before[k], after[k]))
    .map((k) => `${k}: ${describe(before[k] ?? null)} → ${describe(after[k] ?? null)}`);
}

export interface DiffResult {
  changes: PlannedChange[];
  /** Resources that should go but live on an unreachable provider: they stay in state for now. */
  deferred: SimResource[];
}

/**
 * Creates, updates and replaces in dependency order first, then deletes in reverse dependency order, so a
 * DNS record stops pointing at instances before they go and a failover builds the new side before the old
 * one is torn down.
 */
export function diff(
  desired: SimResource[],
  current: SimResource[],
  opts: { reachable: Set<string>; dryRun: (provider: string) => boolean; vanished?: SimResource[] },
): DiffResult {
  const vanished = new Map((opts.vanished ?? []).map((r) => [r.address, r]));
  const byAddress = new Map(current.map((r) => [r.address, r]));
  const wanted = new Set(desired.map((r) => r.address));
  const upserts: PlannedChange[] = [];
  const deletes: PlannedChange[] = [];
  const deferred: SimResource[] = [];
  const change = (action: PlannedChange['action'], r: SimResource, reason: string, before?: SimResource) => ({
    address: r.address,
    type: r.type,
    kind: r.kind,
    action,
    provider: r.provider,
    region: r.region,
    ...(before ? { before } : {}),
    ...(action !== 'delete' ? { after: r } : {}),
    reason,
  });

  for (const d of desired) {
    const c = byAddress.get(d.address);
    if (!c) {
      upserts.push(
        change('create', d, vanished.has(d.address) ? 'deleted outside Strata; recreating' : 'not in state'),
      );
    } else if (c.status === 'simulated' && !opts.dryRun(d.provider)) {
      upserts.push(change('create', d, `only recorded by a dry run; ${d.provider} is no longer in dry-run mode`, c));
    } else if (c.region !== d.region) {
      upserts.push(change('replace', d, `region ${c.region} → ${d.region} forces replacement`, c));
    } else if (c.id !== d.id) {
      const forced = changedAttributes(c.attributes, d.attributes, FORCE_NEW[d.kind]).join(', ');
      upserts.push(change('replace', d, `${forced || 'identity changed'} forces replacement`, c));
    } else if (!sameValue(c.attributes, d.attributes)) {
      upserts.push(change('update', d, changedAttributes(c.attributes, d.attributes).join(', '), c));
    }
  }
  for (const c of current) {
    if (wanted.has(c.address)) continue;
    if (!opts.reachable.has(c.provider)) deferred.push(c);
    else deletes.push(change('delete', c, 'no longer in the configuration', c));
  }
  // Gone from the cloud and not wanted: still a (no-op) delete, so applying it drops the entry from state.
  for (const v of vanished.values()) {
    if (!wanted.has(v.address))
      deletes.push(change('delete', v, 'already deleted outside Strata; removing it from state', v));
  }
  const order = (a: PlannedChange, b: PlannedChange) =>
    compareResources((a.after ?? a.before)!, (b.after ?? b.before)!);
  upserts.sort(order);
  deletes.sort((a, b) => -order(a, b));
  return { changes: [...upserts, ...deletes], deferred };
}
