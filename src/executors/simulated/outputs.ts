/** Stack outputs and the StateResource view of the simulated state. */
import type { StateResource } from '../types';
import { compareResources } from './desired';
import type { Faults, SimResource } from './model';

/** Outputs after an apply on `provider`: what a deployment result and the failover saga read. */
export function computeOutputs(
  resources: SimResource[],
  active: { provider: string; region: string; dryRun: boolean },
  faults: Faults,
): Record<string, unknown> {
  const mine = resources.filter((r) => r.provider === active.provider).sort(compareResources);
  const instances = mine.filter((r) => r.kind === 'instance');
  const first = (kind: SimResource['kind'], attr: string) => mine.find((r) => r.kind === kind)?.attributes[attr];
  return {
    provider: active.provider,
    region: active.region,
    dry_run: active.dryRun,
    instance_count: instances.length,
    instance_ids: instances.map((r) => r.id),
    // Only what really runs has an endpoint; dry-run records have none.
    endpoints: instances.filter((r) => r.status === 'running').map((r) => `http://${String(r.attributes.hostname)}`),
    dns_name: first('dns_record', 'fqdn') ?? null,
    bucket_url: first('bucket', 'url') ?? null,
    database_endpoint: first('database', 'endpoint') ?? null,
    // fail_verify: the stack reports itself unhealthy so verification has something real to fail on.
    healthy: !faults.failVerify,
  };
}

/** Small, secret-free resource view (it travels through workflow history). */
export function toStateResources(resources: SimResource[]): StateResource[] {
  return [...resources].sort(compareResources).map((r) => ({
    address: r.address,
    type: r.type,
    provider: r.provider,
    attributes: { id: r.id, region: r.region, status: r.status },
  }));
}
