/**
 * A TEST controller for bare kube-apiservers (test/helpers/kube.ts), where no kube-controller-manager, kubelet or
 * csi-addons controller runs and so nothing ever writes a status. It polls the given namespaces and writes the
 * status subresources the way those controllers would once their work is done:
 *   Deployment/StatefulSet  observedGeneration, replicas, readyReplicas, availableReplicas, updatedReplicas = spec.replicas
 *   VolumeReplication       state Primary/Secondary per spec.replicationState, observedGeneration, Completed/Degraded/
 *                           Resyncing conditions, lastSyncTime (refreshed on primaries, as a syncing driver reports)
 * Production code only reads these statuses; only this helper writes them.
 *
 *   const ctl = startTestController(cluster.kubeconfig, ['shop']);
 *   await ctl.pause(); ... ctl.resume();   // a controller that is slow to act
 *   await ctl.stop();
 */
import {
  AppsV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Deployment,
  type V1StatefulSet,
} from '@kubernetes/client-node';

const VR = { group: 'replication.storage.openshift.io', version: 'v1alpha1', plural: 'volumereplications' };

export interface TestController {
  /** Number of status writes so far (tests may wait for the controller to settle). */
  writes(): number;
  /** Stops writing statuses (a slow or stuck controller); resolves once no reconcile is in flight. */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

interface Vr {
  metadata: { name: string; namespace: string; generation?: number };
  spec: { replicationState: 'primary' | 'secondary' | 'resync' };
  status?: { state?: string; observedGeneration?: number; lastSyncTime?: string };
}

/** Starts the loop; every `everyMs` it reconciles the statuses of every Deployment, StatefulSet and VolumeReplication. */
export function startTestController(kubeconfig: string, namespaces: string[], everyMs = 150): TestController {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let stopped = false;
  let paused = false;
  let idle: (() => void) | undefined;
  let writes = 0;
  const syncEveryMs = 1000;

  const workloadDone = (o: V1Deployment | V1StatefulSet) => {
    const want = o.spec?.replicas ?? 1;
    return (
      o.status?.observedGeneration === o.metadata?.generation &&
      o.status?.replicas === want &&
      (o.status?.readyReplicas ?? 0) === want
    );
  };
  const workloadStatus = (o: V1Deployment | V1StatefulSet) => {
    const want = o.spec?.replicas ?? 1;
    return {
      observedGeneration: o.metadata?.generation,
      replicas: want,
      readyReplicas: want,
      availableReplicas: want,
      updatedReplicas: want,
    };
  };

  async function reconcile(ns: string): Promise<void> {
    for (const d of (await apps.listNamespacedDeployment({ namespace: ns })).items) {
      if (workloadDone(d)) continue;
      await apps.replaceNamespacedDeploymentStatus({
        name: d.metadata!.name!,
        namespace: ns,
        body: { ...d, status: { ...d.status, ...workloadStatus(d) } },
      });
      writes++;
    }
    for (const s of (await apps.listNamespacedStatefulSet({ namespace: ns })).items) {
      if (workloadDone(s)) continue;
      await apps.replaceNamespacedStatefulSetStatus({
        name: s.metadata!.name!,
        namespace: ns,
        body: { ...s, status: { ...s.status, ...workloadStatus(s), currentReplicas: s.spec?.replicas ?? 1 } },
      });
      writes++;
    }
    const vrs = (await custom.listNamespacedCustomObject({ ...VR, namespace: ns })) as { items: Vr[] };
    for (const v of vrs.items) {
      const desired = v.spec.replicationState;
      const state = desired === 'primary' ? 'Primary' : desired === 'secondary' ? 'Secondary' : 'Unknown';
      const now = new Date();
      const stale =
        desired === 'primary' &&
        (!v.status?.lastSyncTime || now.getTime() - Date.parse(v.status.lastSyncTime) > syncEveryMs);
      if (v.status?.state === state && v.status.observedGeneration === v.metadata.generation && !stale) continue;
      const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
      const cond = (type: string, status: 'True' | 'False', reason: string) => ({
        type,
        status,
        reason,
        message: `${type} ${status}`,
        observedGeneration: v.metadata.generation,
        lastTransitionTime: at,
      });
      await custom.replaceNamespacedCustomObjectStatus({
        ...VR,
        namespace: ns,
        name: v.metadata.name,
        body: {
          ...v,
          status: {
            ...v.status,
            state,
            observedGeneration: v.metadata.generation,
            message: `volume is marked ${desired}`,
            conditions: [
              cond('Completed', 'True', desired === 'primary' ? 'Promoted' : 'Demoted'),
              cond('Degraded', 'False', 'Healthy'),
              cond('Resyncing', 'False', 'NotResyncing'),
            ],
            ...(desired === 'primary' ? { lastSyncTime: at } : {}),
          },
        },
      });
      writes++;
    }
  }

  const loop = (async () => {
    while (!stopped) {
      if (paused) {
        idle?.();
        await new Promise((r) => setTimeout(r, everyMs));
        continue;
      }
      for (const ns of namespaces) {
        // A conflict (someone changed the object since the list) or a missing CRD is retried on the next tick.
        await reconcile(ns).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();

  return {
    writes: () => writes,
    pause: () =>
      new Promise<void>((resolve) => {
        idle = () => {
          idle = undefined;
          resolve();
        };
        paused = true;
      }),
    resume: () => {
      paused = false;
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
