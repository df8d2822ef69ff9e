/**
 * Desired resources from the definition, the variables and the chosen provider/region. Everything is
 * derived deterministically (ids, addresses, IPs, hostnames): re-planning the same input yields the same
 * resources, which is what lets a retried apply recognise what it already created.
 */
import { ErrorCode } from '../../shared/errors';
import { interpolate, type ResourceKind, type Scope, type StackDefinition } from './definition';
import { failure } from './failures';
import { sha256, type SimResource } from './model';

/** Order resources are created in (dependencies first); deletion runs in reverse. */
export const KIND_RANK: Record<ResourceKind, number> = { bucket: 0, database: 1, instance: 2, dns_record: 3 };

/** Attributes whose change cannot be made in place: they are part of the id, so a change means replace. */
export const FORCE_NEW: Record<ResourceKind, string[]> = {
  bucket: ['bucket_name'],
  database: ['engine'],
  instance: ['image'],
  dns_record: ['fqdn', 'record_type'],
};

const ID_PREFIX: Record<ResourceKind, string> = { bucket: 'bkt', database: 'db', instance: 'i', dns_record: 'rec' };
const MAX_INSTANCES = 1000;

/** The stable id of a resource: the same inputs always give the same id. */
export function resourceId(scope: Scope, kind: ResourceKind, address: string, attrs: Record<string, unknown>): string {
  const forceNew = FORCE_NEW[kind].map((k) => `${k}=${JSON.stringify(attrs[k] ?? null)}`).join(';');
  const digest = sha256(`${scope.stack}/${scope.environment}/${scope.provider}/${scope.region}/${address}/${forceNew}`);
  return `${ID_PREFIX[kind]}-${digest.slice(0, 16)}`;
}

function ipFor(id: string): string {
  const h = Buffer.from(sha256(id), 'hex');
  return `10.${h[0]}.${h[1]}.${(h[2] % 254) + 1}`;
}

function instanceCount(name: string, value: unknown): number {
  const raw = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > MAX_INSTANCES) {
    throw failure(
      ErrorCode.PLAN_FAILED,
      `resources.${name}.count must be an integer 0..${MAX_INSTANCES}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

/** Builds the desired resources, in creation order. */
export function buildDesired(def: StackDefinition, vars: Record<string, unknown>, scope: Scope): SimResource[] {
  const { provider, region } = scope;
  const entries = Object.entries(def.resources).sort(
    ([a, ra], [b, rb]) => KIND_RANK[ra.kind] - KIND_RANK[rb.kind] || a.localeCompare(b),
  );
  const out: SimResource[] = [];
  const groups = new Map<string, SimResource[]>();
  const make = (kind: ResourceKind, address: string, attributes: Record<string, unknown>): SimResource => ({
    address,
    type: `${provider}_${kind}`,
    kind,
    provider,
    region,
    id: resourceId(scope, kind, address, attributes),
    attributes,
    status: 'running',
  });

  for (const [name, res] of entries) {
    const attrs = interpolate(res.attributes, vars, scope) as Record<string, unknown>;
    const type = `${provider}_${res.kind}`;
    if (res.kind === 'instance') {
      const count = instanceCount(name, res.count === undefined ? 1 : interpolate(res.count, vars, scope));
      const group: SimResource[] = [];
      for (let i = 0; i < count; i++) {
        const r = make('instance', `${type}.${name}[${i}]`, { ...attrs });
        r.attributes.private_ip = ipFor(r.id);
        r.attributes.hostname = `${name}-${i}.${region}.${provider}.sim.strata.internal`;
        group.push(r);
      }
      groups.set(name, group);
      out.push(...group);
      continue;
    }
    if (res.count !== undefined)
      throw failure(ErrorCode.PLAN_FAILED, `resources.${name}: count is only supported for instances`);
    const r = make(res.kind, `${type}.${name}`, attrs);
    if (res.kind === 'bucket')
      r.attributes.url = `https://${String(attrs.bucket_name ?? name)}.storage.${region}.${provider}.sim.strata.internal`;
    if (res.kind === 'database') r.attributes.endpoint = `${r.id}.${region}.${provider}.db.sim.strata.internal:5432`;
    if (res.kind === 'dns_record') {
      // `targets` names an instance group: the record answers with its addresses, so scaling updates the record.
      const target = attrs.targets;
      if (target !== undefined) {
        const group = typeof target === 'string' ? groups.get(target) : undefined;
        if (!group)
          throw failure(
            ErrorCode.PLAN_FAILED,
            `resources.${name}.targets: no instance resource named ${JSON.stringify(target)}`,
          );
        r.attributes.values = group.map((g) => g.attributes.private_ip);
      }
    }
    out.push(r);
  }
  return out;
}

/** Orders by kind rank, then by name and numeric index (web[2] before web[10]). */
export function compareResources(a: SimResource, b: SimResource): number {
  const key = (r: SimResource) => r.address.replace(/\[(\d+)\]$/, (_, n: string) => `[${n.padStart(6, '0')}]`);
  return KIND_RANK[a.kind] - KIND_RANK[b.kind] || key(a).localeCompare(key(b));
}
