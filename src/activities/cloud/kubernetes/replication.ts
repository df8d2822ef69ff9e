/**
 * csi-addons VolumeReplication: demotion and promotion set `spec.replicationState`, then wait until the replication
 * controller of the cluster reports `status.state` for the current generation. Strata never writes a status: on
 * a bare API server (the tests) a test controller plays the csi-addons controller.
 */
import type { KubernetesObjectApi } from '@kubernetes/client-node';
import type { FailoverSide } from '../../../contracts/failover';
import type { GroupRef, OpContext } from '../failover-cloud';
import type { KubeObject } from './clients';
import { keyOf, listKind, patchSpec, reread } from './objects';

export type ReplicationState = 'primary' | 'secondary';

/** The state csi-addons reports for a desired state (`status.state`). */
const REPORTED: Record<ReplicationState, string> = { primary: 'Primary', secondary: 'Secondary' };

const condition = (o: KubeObject, type: string) =>
  (o.status?.conditions as { type: string; status: string; message?: string }[] | undefined)?.find(
    (c) => c.type === type,
  );

/** True when the controller has acted on the object's current spec and reports `want`. */
export function reports(o: KubeObject, want: ReplicationState): boolean {
  const observed = o.status?.observedGeneration;
  const current = observed === undefined || Number(observed) >= Number(o.metadata?.generation ?? 0);
  return (
    o.spec?.replicationState === want &&
    o.status?.state === REPORTED[want] &&
    current &&
    condition(o, 'Degraded')?.status !== 'True'
  );
}

/** One line on a VolumeReplication for checks and errors. */
export function describeVr(o: KubeObject): string {
  const degraded = condition(o, 'Degraded');
  return `${o.metadata?.namespace}/${o.metadata?.name}: spec ${o.spec?.replicationState}, status ${o.status?.state ?? 'none'}${degraded?.status === 'True' ? ` (degraded: ${degraded.message})` : ''}`;
}

export interface SetStateOptions {
  pollIntervalMs: number;
  timeoutMs: number;
}

/**
 * Sets every VolumeReplication of the group in `side`'s cluster to `want` (those already there are left alone),
 * then polls until all report it, heartbeating; fails after `timeoutMs`. Safe to retry at any point.
 */
export async function setReplicationState(
  api: KubernetesObjectApi,
  g: GroupRef,
  side: FailoverSide,
  want: ReplicationState,
  ctx: OpContext,
  opts: SetStateOptions,
): Promise<{ changed: boolean; already: boolean; detail: string }> {
  const vrs = await listKind(api, g, side, 'VolumeReplication');
  if (vrs.length === 0)
    return { changed: false, already: false, detail: `no VolumeReplication in the ${side} cluster` };
  const already = vrs.every((v) => reports(v, want));
  const patched: string[] = [];
  for (const v of vrs) {
    const done = await patchSpec(api, side, v, (cur) =>
      cur.spec?.replicationState === want ? undefined : { spec: { replicationState: want }, what: keyOf(cur) },
    );
    if (done) patched.push(done);
  }
  const deadline = Date.now() + opts.timeoutMs;
  let last = vrs;
  for (;;) {
    last = (await Promise.all(last.map((v) => reread(api, side, v)))).filter((v): v is KubeObject => !!v);
    const pending = last.filter((v) => !reports(v, want));
    if (pending.length === 0) break;
    ctx.heartbeat({ waitingFor: pending.map((v) => keyOf(v)), want });
    if (ctx.signal.aborted) throw new Error(`cancelled while waiting for VolumeReplication ${want}`);
    if (Date.now() > deadline)
      throw new Error(
        `VolumeReplication did not report ${REPORTED[want]} within ${Math.round(opts.timeoutMs / 1000)}s in the ${side} cluster: ${pending.map(describeVr).join('; ')}`,
      );
    await new Promise((r) => setTimeout(r, opts.pollIntervalMs));
  }
  return {
    changed: patched.length > 0,
    already,
    detail: `${vrs.length} VolumeReplication ${REPORTED[want]} in the ${side} cluster${patched.length ? ` (set: ${patched.join(', ')})` : ` (spec ${want} already)`}`,
  };
}

/** The oldest `status.lastSyncTime` of the group's volumes in `side`'s cluster (the RPO upper bound). */
export async function oldestSync(
  api: KubernetesObjectApi,
  g: GroupRef,
  side: FailoverSide,
): Promise<{ at?: string; count: number }> {
  const vrs = await listKind(api, g, side, 'VolumeReplication');
  const times = vrs.map((v) => v.status?.lastSyncTime as string | undefined);
  if (times.length === 0 || times.some((t) => !t)) return { count: vrs.length };
  return { at: times.sort()[0], count: vrs.length };
}
