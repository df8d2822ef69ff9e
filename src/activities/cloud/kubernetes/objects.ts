/**
 * The objects of a kubernetes failover group in one cluster: found by label selector in the configured namespaces
 * or named one by one, and changed only by merge patches that set an absolute value (replicas, spec.suspend,
 * spec.replicationState) carrying the resourceVersion read, so a retried or raced call never acts on stale state.
 */
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import { kubeClient } from '../../../executors/kubernetes/kube-client';
import type { FailoverSide } from '../../../contracts/failover';
import { KUBE_FAILOVER_KINDS, type KubeFailoverConfig, type KubeFailoverKind } from '../../../shared/config';
import type { GroupRef, KubeObjectsState } from '../failover-cloud';
import { kubeError, statusOf, type KubeObject } from './clients';

/** apiVersion and CRD (none for built-in kinds) of every kind the provider handles. */
export const KINDS: Record<KubeFailoverKind | 'VirtualService', { apiVersion: string; crd?: string }> = {
  Deployment: { apiVersion: 'apps/v1' },
  StatefulSet: { apiVersion: 'apps/v1' },
  CronJob: { apiVersion: 'batch/v1' },
  Kustomization: {
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    crd: 'kustomizations.kustomize.toolkit.fluxcd.io',
  },
  HelmRelease: { apiVersion: 'helm.toolkit.fluxcd.io/v2', crd: 'helmreleases.helm.toolkit.fluxcd.io' },
  VolumeReplication: {
    apiVersion: 'replication.storage.openshift.io/v1alpha1',
    crd: 'volumereplications.replication.storage.openshift.io',
  },
  VirtualService: { apiVersion: 'networking.istio.io/v1beta1', crd: 'virtualservices.networking.istio.io' },
};

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet'] as const;
export const FLUX_KINDS = ['Kustomization', 'HelmRelease'] as const;
/**
 * Set on a workload scaled to 0 by a failover: the replicas it ran. A later emergency failover back to this side,
 * when the other side's counts are unreadable, scales it to this value again.
 */
export const FORMER_REPLICAS = 'strata.io/failover-former-replicas';
/** The field manager of every change, so `kubectl get -o yaml --show-managed-fields` names Strata. */
export const FIELD_MANAGER = 'strata-failover';

export function kubeCfgOf(g: GroupRef): KubeFailoverConfig {
  if (!g.cfg.kubernetes) throw new Error(`failover group ${g.name} has no kubernetes section`);
  return g.cfg.kubernetes;
}

/** The kinds the group uses: the keys of `objects`, else `kinds`, else all. */
export function kindsOf(g: GroupRef): KubeFailoverKind[] {
  const k = kubeCfgOf(g);
  if (k.objects) return KUBE_FAILOVER_KINDS.filter((kind) => k.objects![kind]?.length);
  return k.kinds ?? [...KUBE_FAILOVER_KINDS];
}

/** The CRDs the group needs in each cluster (only those of the kinds it uses, plus the VirtualService's). */
export function requiredCrds(g: GroupRef): string[] {
  const kinds: (KubeFailoverKind | 'VirtualService')[] = [...kindsOf(g)];
  if (kubeCfgOf(g).routing?.virtualService) kinds.push('VirtualService');
  return kinds.map((k) => KINDS[k].crd).filter((c): c is string => !!c);
}

export const keyOf = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`;

const split = (ref: string) => {
  const [namespace, name] = ref.split('/', 2);
  return { namespace, name };
};

/** The group's objects of `kind` in `side`'s cluster; a named object that is missing is an error. */
export async function listKind(
  api: KubernetesObjectApi,
  g: GroupRef,
  side: FailoverSide,
  kind: KubeFailoverKind,
): Promise<KubeObject[]> {
  const k = kubeCfgOf(g);
  const { apiVersion } = KINDS[kind];
  if (!kindsOf(g).includes(kind)) return [];
  try {
    if (k.objects) {
      const out: KubeObject[] = [];
      for (const ref of k.objects[kind] ?? []) {
        const { namespace, name } = split(ref);
        out.push(await api.read<KubeObject>({ apiVersion, kind, metadata: { namespace, name } }));
      }
      return out;
    }
    const out: KubeObject[] = [];
    for (const ns of k.namespaces ?? []) {
      const list = await api.list<KubeObject>(
        apiVersion,
        kind,
        ns,
        undefined,
        undefined,
        undefined,
        undefined,
        k.selector,
      );
      // A list's items carry no apiVersion/kind of their own: give them back, later patches need them.
      out.push(...list.items.map((o) => ({ ...o, apiVersion, kind })));
    }
    return out.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  } catch (err) {
    throw kubeError(err, side, `listing the group's ${kind} objects`);
  }
}

/** What to change on one object, decided from its current state; undefined when it is as it should be. */
export type Change = { spec: Record<string, unknown>; annotations?: Record<string, string>; what: string } | undefined;

/**
 * Applies `decide(object)` by a merge patch bound to the resourceVersion it was decided on. When the object moved
 * meanwhile (409: a controller wrote its status, say) it is read again and decided afresh, a few times: the
 * decision always sets an absolute value, so deciding again on fresh state is exactly what a retry would do.
 * Resolves with what was changed, undefined when nothing had to be.
 */
export async function patchSpec(
  api: KubernetesObjectApi,
  side: FailoverSide,
  o: KubeObject,
  decide: (current: KubeObject) => Change,
): Promise<string | undefined> {
  let current: KubeObject | undefined = o;
  for (let attempt = 1; ; attempt++) {
    const change = decide(current);
    if (!change) return undefined;
    try {
      await api.patch(
        {
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: {
            name: o.metadata?.name,
            namespace: o.metadata?.namespace,
            resourceVersion: current.metadata?.resourceVersion,
            ...(change.annotations ? { annotations: change.annotations } : {}),
          },
          spec: change.spec,
        },
        undefined,
        undefined,
        FIELD_MANAGER,
        undefined,
        kubeClient().PatchStrategy.MergePatch,
      );
      return change.what;
    } catch (err) {
      if (statusOf(err) !== 409 || attempt >= 5) throw kubeError(err, side, `patching ${keyOf(o)}`);
    }
    current = await reread(api, side, o);
    if (!current) throw kubeError(new Error(`${keyOf(o)} disappeared while being changed`), side, 'patching');
  }
}

/** Reads one object again (for polling status); undefined when it is gone. */
export async function reread(
  api: KubernetesObjectApi,
  side: FailoverSide,
  o: KubeObject,
): Promise<KubeObject | undefined> {
  try {
    return await api.read<KubeObject>({
      apiVersion: o.apiVersion!,
      kind: o.kind!,
      metadata: { name: o.metadata!.name!, namespace: o.metadata?.namespace },
    });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw kubeError(err, side, `reading ${keyOf(o)}`);
  }
}

export interface SideObjects {
  workloads: KubeObject[];
  cronJobs: KubeObject[];
  flux: KubeObject[];
}

export async function sideObjects(api: KubernetesObjectApi, g: GroupRef, side: FailoverSide): Promise<SideObjects> {
  const workloads = [...(await listKind(api, g, side, 'Deployment')), ...(await listKind(api, g, side, 'StatefulSet'))];
  const cronJobs = await listKind(api, g, side, 'CronJob');
  const flux = [...(await listKind(api, g, side, 'Kustomization')), ...(await listKind(api, g, side, 'HelmRelease'))];
  return { workloads, cronJobs, flux };
}

/** What readiness records of one side: replica counts and suspension, restored verbatim by compensations. */
export function stateOf(objs: SideObjects): KubeObjectsState {
  const replicas: Record<string, number> = {};
  const suspended: Record<string, boolean> = {};
  for (const w of objs.workloads) replicas[keyOf(w)] = Number(w.spec?.replicas ?? 1);
  for (const o of [...objs.cronJobs, ...objs.flux]) suspended[keyOf(o)] = o.spec?.suspend === true;
  return { replicas, suspended };
}
