/**
 * The failover interface on two Kubernetes clusters (@kubernetes/client-node), one per side of the group:
 *   capacity    Deployments/StatefulSets replicas, CronJob and Flux Kustomization/HelmRelease `spec.suspend`
 *   database    csi-addons VolumeReplication `spec.replicationState` (demote = secondary, promote = primary)
 *   traffic     an Istio VirtualService's destination weights/host
 *   health      readyReplicas == replicas of every workload, for the current generation
 *   global state the same DynamoDB item (and code) as the AWS provider
 * Every operation sets an absolute desired state or checks before it acts, so Temporal's retries are harmless.
 * Statuses (readyReplicas, VolumeReplication state) are only ever read: controllers in the cluster write them.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import type { FailoverSide } from '../../../contracts/failover';
import { parseDuration } from '../../../shared/duration';
import { globalStateTable } from '../aws/global-state';
import type {
  Capacity,
  CloudReadiness,
  FailoverCloud,
  GroupRef,
  HealthReport,
  LagReport,
  StepOutcome,
  TrafficSnapshot,
} from '../failover-cloud';
import { readinessChecks } from '../failover-cloud';
import {
  defaultKubeApiFactory,
  isUnreachable,
  kubeError,
  statusOf,
  type KubeApiFactory,
  type KubeObject,
} from './clients';
import {
  FORMER_REPLICAS,
  keyOf,
  kindsOf,
  kubeCfgOf,
  listKind,
  patchSpec,
  requiredCrds,
  sideObjects,
  stateOf,
} from './objects';
import { describeVr, oldestSync, reports, setReplicationState } from './replication';
import { describeWeights, readVs, routedTo, sidesOf, vsOf, writeHttp, type VsRecord } from './routing';

export { defaultKubeApiFactory, kubeConfigOf, type KubeApiFactory, type KubeApis } from './clients';

export interface KubernetesFailoverOptions {
  /** The DynamoDB client of the group's global-state region (the same table the AWS provider uses). */
  dynamodb: (g: GroupRef) => DynamoDBClient;
  /** The API of each side's cluster (default: built from strata.yaml). */
  kube?: KubeApiFactory;
  /** How often waits poll status (default 2 s). */
  pollIntervalMs?: number;
  /** Create the global-state table on first use (default true). */
  createTableIfMissing?: boolean;
}

const other = (s: FailoverSide): FailoverSide => (s === 'primary' ? 'secondary' : 'primary');

/** Factory over injected clients: one instance per worker. */
export function createKubernetesFailoverActivities(opts: KubernetesFailoverOptions): FailoverCloud {
  const kube = opts.kube ?? defaultKubeApiFactory();
  const pollIntervalMs = opts.pollIntervalMs ?? 2000;
  const state = (g: GroupRef) =>
    globalStateTable(opts.dynamodb(g), g, { createTableIfMissing: opts.createTableIfMissing });
  const api = (g: GroupRef, side: FailoverSide): KubernetesObjectApi => kube(g, side).objects;
  // Demotion and reattachment run as ordinary saga steps (5 min per attempt): their wait ends before the attempt
  // does, so the failure says what is pending. Promotion heartbeats and may wait the whole replicationTimeout.
  const STEP_WAIT_MS = 4 * 60_000;
  const waitOpts = (g: GroupRef, step: 'promote' | 'step' = 'step') => {
    const configured = parseDuration(kubeCfgOf(g).replicationTimeout);
    return { pollIntervalMs, timeoutMs: step === 'promote' ? configured : Math.min(configured, STEP_WAIT_MS) };
  };
  const usesVolumes = (g: GroupRef) => kindsOf(g).includes('VolumeReplication');

  async function reachable(g: GroupRef, side: FailoverSide): Promise<string> {
    // /version needs no permission the failover would not have; the CRD and object reads then prove the credentials.
    try {
      const v = await kube(g, side).version.getCode();
      return `${g.cfg[side].kubernetes?.server ?? g.cfg[side].kubernetes?.kubeconfig} reachable (Kubernetes ${v.gitVersion})`;
    } catch (err) {
      throw kubeError(err, side, 'reading the server version');
    }
  }

  async function missingCrds(g: GroupRef, side: FailoverSide): Promise<string[]> {
    const missing: string[] = [];
    for (const name of requiredCrds(g)) {
      try {
        await api(g, side).read({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name },
        });
      } catch (err) {
        if (statusOf(err) === 404) missing.push(name);
        else throw kubeError(err, side, `reading CRD ${name}`);
      }
    }
    return missing;
  }

  async function capacityOf(g: GroupRef, side: FailoverSide): Promise<Capacity> {
    const objects = stateOf(await sideObjects(api(g, side), g, side));
    const total = Object.values(objects.replicas).reduce((a, b) => a + b, 0);
    return { min: 0, max: total, desired: total, objects };
  }

  /** The VirtualService copies to act on: every listed cluster; an unreachable one other than `needed` is skipped. */
  async function vsCopies(
    g: GroupRef,
    needed: FailoverSide | undefined,
  ): Promise<{ copies: { cluster: FailoverSide; vs: KubeObject }[]; skipped: string[] }> {
    const copies: { cluster: FailoverSide; vs: KubeObject }[] = [];
    const skipped: string[] = [];
    for (const cluster of vsOf(g)?.clusters ?? []) {
      try {
        copies.push({ cluster, vs: await readVs(api(g, cluster), g, cluster) });
      } catch (err) {
        if (cluster !== needed && isUnreachable(err)) skipped.push(`${cluster}: ${(err as Error).message}`);
        else throw err;
      }
    }
    return { copies, skipped };
  }

  async function scaleSide(g: GroupRef, side: FailoverSide, cap: Capacity): Promise<StepOutcome> {
    const a = api(g, side);
    const objs = await sideObjects(a, g, side);
    const changes: string[] = [];
    const suspendOf = (o: KubeObject) => cap.objects?.suspended[keyOf(o)] ?? cap.desired === 0;
    // Without recorded counts (an emergency with the source unreadable): what this workload ran before a failover
    // scaled it down, else the configured or computed `desired`.
    const replicasOf = (o: KubeObject) => {
      const recorded = cap.objects?.replicas[keyOf(o)];
      if (recorded !== undefined) return recorded;
      if (cap.objects || cap.desired === 0) return cap.objects ? Number(o.spec?.replicas ?? 1) : 0;
      const former = Number(o.metadata?.annotations?.[FORMER_REPLICAS]);
      return Number.isInteger(former) && former > 0 ? former : cap.desired;
    };
    const note = (what: string | undefined) => what && changes.push(what);
    const setSuspend = async (o: KubeObject) => {
      const want = suspendOf(o);
      note(
        await patchSpec(a, side, o, (cur) =>
          (cur.spec?.suspend === true) === want
            ? undefined
            : { spec: { suspend: want }, what: `${keyOf(cur)} ${want ? 'suspended' : 'resumed'}` },
        ),
      );
    };
    // Flux is suspended before the workloads scale down (it would scale them back up from git) and resumed
    // after they scale up (its first reconcile then finds the cluster as it should be).
    for (const o of objs.flux) if (suspendOf(o)) await setSuspend(o);
    for (const w of objs.workloads) {
      note(
        await patchSpec(a, side, w, (cur) => {
          const want = replicasOf(cur);
          const was = Number(cur.spec?.replicas ?? 1);
          if (was === want) return undefined;
          return {
            spec: { replicas: want },
            // Remembered on the object itself, for an emergency failover back here that cannot read the other side.
            annotations: want === 0 ? { [FORMER_REPLICAS]: String(was) } : undefined,
            what: `${keyOf(cur)} replicas ${was} → ${want}`,
          };
        }),
      );
    }
    for (const c of objs.cronJobs) await setSuspend(c);
    for (const o of objs.flux) if (!suspendOf(o)) await setSuspend(o);
    return changes.length
      ? { changed: true, detail: `${side} cluster: ${changes.join('; ')}` }
      : { changed: false, detail: `${side} cluster already as desired (${objs.workloads.length} workloads)` };
  }

  const cloud: FailoverCloud = {
    async readiness(g, { from, to, mode }): Promise<CloudReadiness> {
      const { checks, check } = readinessChecks();
      const capacity: CloudReadiness['capacity'] = {};
      const planned = mode === 'planned';
      for (const side of [to, from]) {
        const isTarget = side === to;
        const tag = isTarget ? 'target' : 'source';
        const required = isTarget || planned;
        await check(`${tag}_cluster`, side, async () => ({ ok: true, detail: await reachable(g, side) }), required);
        await check(
          `${tag}_crds`,
          side,
          async () => {
            const missing = await missingCrds(g, side);
            return missing.length
              ? { ok: false, detail: `CRDs missing: ${missing.join(', ')}` }
              : { ok: true, detail: `${requiredCrds(g).length} CRDs present` };
          },
          required,
        );
        await check(
          `${tag}_workloads`,
          side,
          async () => {
            capacity[side] = await capacityOf(g, side);
            const r = capacity[side].objects!.replicas;
            return {
              ok: true,
              detail:
                Object.entries(r)
                  .map(([k, n]) => `${k}=${n}`)
                  .join(', ') || 'no workloads',
            };
          },
          required,
        );
        if (usesVolumes(g)) {
          const want = isTarget ? 'secondary' : 'primary';
          await check(
            isTarget ? 'target_replication' : 'source_volumes',
            side,
            async () => {
              const vrs = await listKind(api(g, side), g, side, 'VolumeReplication');
              if (vrs.length === 0) return { ok: false, detail: 'no VolumeReplication of the group found' };
              return { ok: vrs.every((v) => reports(v, want)), detail: vrs.map(describeVr).join('; ') };
            },
            required,
          );
        }
      }
      let traffic: string | undefined;
      let trafficSnapshot: TrafficSnapshot | undefined;
      if (vsOf(g)) {
        await check(
          'routing',
          to,
          async () => {
            const { copies, skipped } = await vsCopies(g, planned ? undefined : to);
            if (planned && skipped.length) throw new Error(skipped.join('; '));
            const records: VsRecord[] = copies.map(({ cluster, vs }) => ({
              cluster,
              namespace: vs.metadata!.namespace!,
              name: vs.metadata!.name!,
              http: vs.spec?.http ?? [],
            }));
            traffic = records
              .map(
                (r) =>
                  `VirtualService ${r.namespace}/${r.name} in ${r.cluster}: ${describeWeights(sidesOf(g, r.http))}`,
              )
              .join('; ');
            trafficSnapshot = { detail: traffic, records };
            // Every copy must route to one of the group's hosts, or a switch would change nothing.
            const routable = records.every((r) => Object.keys(sidesOf(g, r.http)).length > 0);
            const hosts = vsOf(g)!.hosts;
            return {
              ok: routable && records.length > 0,
              detail: routable
                ? traffic
                : `${traffic}: no route destination names ${hosts.primary} or ${hosts.secondary}`,
            };
          },
          true,
        );
      }
      const vs = vsOf(g);
      const res = (side: FailoverSide) => ({
        capacity: `workloads of ${g.name} in the ${side} cluster`,
        database: usesVolumes(g) ? `VolumeReplications of ${g.name} in the ${side} cluster` : undefined,
        health: `readyReplicas of ${g.name}'s workloads in the ${side} cluster`,
      });
      return {
        checks,
        capacity,
        traffic,
        trafficSnapshot,
        resources: {
          dns: vs ? `VirtualService ${vs.name}` : undefined,
          primary: res('primary'),
          secondary: res('secondary'),
        },
      };
    },

    readState: (g) => state(g).read(),
    acquireLock: (g, { owner, ttlMs, intent }) => state(g).acquire(owner, ttlMs, intent),
    releaseLock: (g, owner) => state(g).release(owner),
    commit: (g, { owner, entry, attention }) => state(g).commit(owner, entry, attention),

    // A VirtualService cannot route to nothing, and the target is not serving yet: the source's traffic moves in
    // target activation (switch_traffic) once the target is scaled up. scale_source stops the source meanwhile.
    async drainTraffic(g, side) {
      return {
        changed: false,
        detail: `kubernetes: traffic leaves ${side} at switch_traffic${vsOf(g) ? '' : ' (no routing configured)'}`,
      };
    },

    async routeTraffic(g, side) {
      if (!vsOf(g)) return { changed: false, detail: 'no routing configured' };
      const { copies, skipped } = await vsCopies(g, side);
      const done: string[] = [];
      for (const { cluster, vs } of copies)
        if (await writeHttp(api(g, cluster), cluster, vs, (http) => routedTo(g, http, side))) done.push(cluster);
      const detail = `VirtualService ${vsOf(g)!.name} → ${side} (${vsOf(g)!.hosts[side]})${done.length ? ` in ${done.join(', ')}` : ' already'}`;
      return skipped.length
        ? {
            changed: done.length > 0,
            manual: true,
            detail: `${detail}; not reachable, switch by hand: ${skipped.join('; ')}`,
          }
        : { changed: done.length > 0, detail };
    },

    async restoreTraffic(g, snapshot) {
      const records = (snapshot.records ?? []) as VsRecord[];
      if (!vsOf(g) || records.length === 0) return { changed: false, detail: 'no VirtualService snapshot to restore' };
      const done: string[] = [];
      for (const r of records) {
        const vs = await readVs(api(g, r.cluster), g, r.cluster);
        if (await writeHttp(api(g, r.cluster), r.cluster, vs, () => r.http)) done.push(r.cluster);
      }
      return {
        changed: done.length > 0,
        detail: `VirtualService ${vsOf(g)!.name} restored (${snapshot.detail})${done.length ? '' : ': already so'}`,
      };
    },

    scale: (g, side, cap) => scaleSide(g, side, cap),

    async fenceDatabase(g, side, fenced, ctx) {
      if (!usesVolumes(g)) return { changed: false, detail: 'no VolumeReplication in the group' };
      const r = await setReplicationState(api(g, side), g, side, fenced ? 'secondary' : 'primary', ctx, waitOpts(g));
      return { changed: r.changed, detail: r.detail };
    },

    async replicationLag(g, side): Promise<LagReport> {
      // The primary's VolumeReplication reports the last sync; in an emergency only the replica may answer.
      for (const s of [other(side), side]) {
        if (!usesVolumes(g)) break;
        try {
          const { at, count } = await oldestSync(api(g, s), g, s);
          if (at) {
            const lag = Math.max(0, (Date.now() - Date.parse(at)) / 1000);
            return {
              lagSeconds: Math.round(lag * 10) / 10,
              source: 'reported',
              detail: `oldest lastSyncTime of ${count} VolumeReplication in the ${s} cluster: ${at}`,
            };
          }
        } catch {
          /* that side is unreachable: try the other, then the checkpoint */
        }
      }
      const st = await state(g).read();
      if (st.replicationCheckpointAt) {
        const age = Math.max(0, (Date.now() - Date.parse(st.replicationCheckpointAt)) / 1000);
        return {
          lagSeconds: Math.round(age * 10) / 10,
          source: 'checkpoint',
          detail: `last confirmed replication checkpoint ${st.replicationCheckpointAt} (an upper bound)`,
        };
      }
      return {
        source: 'unknown',
        detail: 'no VolumeReplication reports a lastSyncTime and no checkpoint: RPO unknown',
      };
    },

    async promoteReplica(g, side, ctx) {
      if (!usesVolumes(g))
        return { changed: false, alreadyPromoted: false, detail: 'no VolumeReplication in the group' };
      const r = await setReplicationState(api(g, side), g, side, 'primary', ctx, waitOpts(g, 'promote'));
      return { changed: r.changed, alreadyPromoted: r.already, detail: r.detail };
    },

    async reattachReplica(g, side, _source, ctx) {
      if (!usesVolumes(g)) return { changed: false, detail: 'no VolumeReplication in the group' };
      const r = await setReplicationState(api(g, side), g, side, 'secondary', ctx, waitOpts(g));
      return { changed: r.changed, detail: r.detail };
    },

    async health(g, side): Promise<HealthReport> {
      const { workloads } = await sideObjects(api(g, side), g, side);
      const notReady = workloads.filter((w) => {
        const want = Number(w.spec?.replicas ?? 1);
        const observed = Number(w.status?.observedGeneration ?? 0) >= Number(w.metadata?.generation ?? 0);
        return !observed || Number(w.status?.readyReplicas ?? 0) < want;
      });
      const serving = workloads.some((w) => Number(w.spec?.replicas ?? 1) > 0);
      return {
        healthy: notReady.length === 0 && (serving || workloads.length === 0),
        detail:
          workloads.length === 0
            ? `${side}: no workloads in the group (assumed healthy)`
            : notReady.length
              ? `${side}: not ready: ${notReady.map((w) => `${keyOf(w)} ${w.status?.readyReplicas ?? 0}/${w.spec?.replicas}`).join(', ')}`
              : `${side}: ${workloads.length} workloads ready${serving ? '' : ' but all at 0 replicas'}`,
      };
    },
  };
  return cloud;
}
