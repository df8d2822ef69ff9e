/**
 * Traffic of a kubernetes failover group: an Istio VirtualService (one copy per listed cluster) whose HTTP route
 * destinations name each side's host. Switching to a side gives its destination weight 100 and the other's 0, or,
 * where a route has one destination only, points that destination at the side's host. Each copy is changed by one
 * merge patch of `spec.http` bound to the resourceVersion read (decided again on a conflict).
 */
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import type { FailoverSide } from '../../../contracts/failover';
import type { GroupRef } from '../failover-cloud';
import { kubeError, statusOf, type KubeObject } from './clients';
import { KINDS, kubeCfgOf, patchSpec } from './objects';

interface Destination {
  destination?: { host?: string; [k: string]: unknown };
  weight?: number;
  [k: string]: unknown;
}
interface HttpRoute {
  route?: Destination[];
  [k: string]: unknown;
}

/** A VirtualService copy as found, restored verbatim by a rollback. */
export interface VsRecord {
  cluster: FailoverSide;
  namespace: string;
  name: string;
  http: HttpRoute[];
}

export function vsOf(g: GroupRef) {
  return kubeCfgOf(g).routing?.virtualService;
}

export async function readVs(api: KubernetesObjectApi, g: GroupRef, cluster: FailoverSide): Promise<KubeObject> {
  const vs = vsOf(g)!;
  const [namespace, name] = vs.name.split('/', 2);
  try {
    return await api.read<KubeObject>({
      apiVersion: KINDS.VirtualService.apiVersion,
      kind: 'VirtualService',
      metadata: { namespace, name },
    });
  } catch (err) {
    if (statusOf(err) === 404) {
      const e = new Error(`VirtualService ${vs.name} not found in the ${cluster} cluster`);
      e.name = 'NotFound';
      throw e;
    }
    throw kubeError(err, cluster, `reading VirtualService ${vs.name}`);
  }
}

/** The side each destination host belongs to, and the weights per side (a missing weight of a lone destination is 100). */
export function sidesOf(g: GroupRef, http: HttpRoute[]): Partial<Record<FailoverSide, number>> {
  const hosts = vsOf(g)!.hosts;
  const out: Partial<Record<FailoverSide, number>> = {};
  for (const r of http)
    for (const d of r.route ?? []) {
      const side =
        d.destination?.host === hosts.primary
          ? 'primary'
          : d.destination?.host === hosts.secondary
            ? 'secondary'
            : undefined;
      if (side) out[side] = Math.max(out[side] ?? 0, d.weight ?? ((r.route?.length ?? 0) === 1 ? 100 : 0));
    }
  return out;
}

/** The routes with all of the group's traffic on `side`. Destinations of other hosts are left alone. */
export function routedTo(g: GroupRef, http: HttpRoute[], side: FailoverSide): HttpRoute[] {
  const hosts = vsOf(g)!.hosts;
  const mine = (d: Destination) => d.destination?.host === hosts.primary || d.destination?.host === hosts.secondary;
  return http.map((r) => {
    const dests = r.route ?? [];
    if (!dests.some(mine)) return r;
    const hasTarget = dests.some((d) => d.destination?.host === hosts[side]);
    if (!hasTarget || dests.length === 1)
      return {
        ...r,
        route: dests.map((d) => (mine(d) ? { ...d, destination: { ...d.destination, host: hosts[side] } } : d)),
      };
    return {
      ...r,
      route: dests.map((d) => (mine(d) ? { ...d, weight: d.destination?.host === hosts[side] ? 100 : 0 } : d)),
    };
  });
}

/**
 * Sets `spec.http` of one copy to `want(current routes)` when it differs; false when it was already so. Goes through
 * patchSpec, so a copy changed meanwhile (409) is decided again on its fresh routes.
 */
export async function writeHttp(
  api: KubernetesObjectApi,
  cluster: FailoverSide,
  vs: KubeObject,
  want: (http: HttpRoute[]) => HttpRoute[],
): Promise<boolean> {
  const done = await patchSpec(api, cluster, vs, (cur) => {
    const http = want((cur.spec?.http ?? []) as HttpRoute[]);
    return JSON.stringify(cur.spec?.http ?? []) === JSON.stringify(http)
      ? undefined
      : { spec: { http }, what: `${cluster}` };
  });
  return !!done;
}

export const describeWeights = (w: Partial<Record<FailoverSide, number>>) =>
  Object.entries(w)
    .map(([s, v]) => `${s} ${v}`)
    .join(', ') || 'no destination of the group';
