/** Drift: the simulated cloud diverging from the state, injected on demand and detected by a refresh. */
import type { DriftedResource, DriftReport, ExecutorContext } from '../types';
import type { ResourceKind } from './definition';
import { compareResources } from './desired';
import { sameValue, type Faults, type Reality, type SimResource, type SimState } from './model';
import { loadState, type SimulatedCloud } from './persistence';
import { availability, DEFAULT_PROVIDERS, type AvailabilityCheck } from './providers';

/**
 * drift_after_apply: someone "resizes" the first instance in the console and "terminates" the last one
 * (or, without instances, turns off bucket versioning). Edits reality only, never the state.
 */
export function injectDrift(state: SimState, reality: Reality): string[] {
  const live = state.resources.filter((r) => r.status === 'running' && reality.resources[r.id]).sort(compareResources);
  const instances = live.filter((r) => r.kind === 'instance');
  const lines: string[] = [];
  if (instances.length > 0) {
    const real = reality.resources[instances[0].id];
    const resized = real.attributes.instance_type === 'xlarge' ? 'small' : 'xlarge';
    real.attributes = { ...real.attributes, instance_type: resized };
    lines.push(`${real.address} (${real.id}) was resized to ${resized} outside Strata`);
  }
  if (instances.length > 1) {
    const last = instances[instances.length - 1];
    delete reality.resources[last.id];
    lines.push(`${last.address} (${last.id}) was terminated outside Strata`);
  }
  const bucket = live.find((r) => r.kind === 'bucket');
  if (instances.length === 0 && bucket) {
    const real = reality.resources[bucket.id];
    real.attributes = { ...real.attributes, versioning: !real.attributes.versioning };
    lines.push(`${real.address} (${real.id}) had versioning toggled outside Strata`);
  }
  return lines;
}

const SEVERITY: Record<DriftedResource['change'], Record<ResourceKind, DriftedResource['severity']>> = {
  // A vanished database loses data; vanished serving capacity or DNS breaks traffic.
  deleted: { database: 'critical', dns_record: 'high', instance: 'high', bucket: 'high' },
  modified: { database: 'high', dns_record: 'high', instance: 'medium', bucket: 'medium' },
  // Unmanaged extras cost money but break nothing.
  added: { database: 'low', dns_record: 'low', instance: 'low', bucket: 'low' },
};

/** Refresh-only comparison of state and the simulated cloud. */
export async function detectDrift(
  ctx: ExecutorContext,
  cloud: SimulatedCloud,
  faults: Faults,
  check: AvailabilityCheck | undefined,
  providers = DEFAULT_PROVIDERS,
): Promise<DriftReport> {
  const scannedAt = new Date().toISOString();
  const state = await loadState(ctx);
  const reality = await cloud.read(ctx.stack, ctx.environment);
  const isAvailable = availability(faults, check);
  const found: DriftedResource[] = [];
  const add = (r: SimResource, change: DriftedResource['change'], detail: string) => {
    found.push({ address: r.address, type: r.type, change, severity: SEVERITY[change][r.kind] });
    ctx.log({ level: 'warn', message: `drift: ${r.address} ${detail}`, resource: r.address });
  };
  for (const r of [...state.resources].sort(compareResources)) {
    if (r.status === 'simulated') continue;
    if (!(await isAvailable(r.provider, providers[r.provider]?.region ?? r.region))) {
      ctx.log({
        level: 'warn',
        message: `drift: cannot refresh ${r.address}: provider ${r.provider} is unavailable`,
        resource: r.address,
      });
      continue;
    }
    const real = reality.resources[r.id];
    if (!real) add(r, 'deleted', `(${r.id}) no longer exists`);
    else if (!sameValue(real.attributes, r.attributes)) {
      const keys = Object.keys({ ...real.attributes, ...r.attributes }).filter(
        (k) => !sameValue(real.attributes[k], r.attributes[k]),
      );
      add(r, 'modified', `(${r.id}) changed outside Strata: ${keys.join(', ')}`);
    }
  }
  const known = new Set(state.resources.map((r) => r.id));
  for (const real of Object.values(reality.resources).sort(compareResources)) {
    if (!known.has(real.id)) add(real, 'added', `(${real.id}) exists in ${real.provider} but not in state`);
  }
  if (found.length === 0) ctx.log({ level: 'info', message: 'drift: none; the simulated cloud matches the state' });
  return { scannedAt, drifted: found.length > 0, resources: found };
}
