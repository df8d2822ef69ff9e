/**
 * RDS steps. RDS cannot demote a primary, so "demotion" fences it: the `strata:fenced-by` tag plus the
 * global-state epoch form the fencing token the application's connection layer checks before writing.
 * Promotion is made idempotent with a durable marker tag written right after RDS accepted the call: a retry
 * (e.g. after the worker died mid-promotion) sees the marker, or the replica link already gone, and only waits.
 */
import {
  AddTagsToResourceCommand,
  DBInstanceNotFoundFault,
  DescribeDBInstancesCommand,
  PromoteReadReplicaCommand,
  RemoveTagsFromResourceCommand,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { FailoverSide } from '../../../contracts/failover';
import type { GroupRef, OpContext, PromoteOutcome, StepOutcome } from '../failover-cloud';

export const FENCE_TAG = 'strata:fenced-by';
export const PROMOTED_TAG = 'strata:promoted-by';

/** The database a side serves from: its replica when it is the target, its instance when it is the source. */
export function dbIdOf(g: GroupRef, side: FailoverSide, as: 'source' | 'target'): string | undefined {
  const s = g.cfg[side];
  return as === 'target' ? (s.dbReplica ?? s.dbInstance) : (s.dbInstance ?? s.dbReplica);
}

export async function describeDb(rds: RDSClient, id: string): Promise<DBInstance | undefined> {
  try {
    const r = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
    return r.DBInstances?.[0];
  } catch (err) {
    if (err instanceof DBInstanceNotFoundFault || (err as Error).name === 'DBInstanceNotFound') return undefined;
    throw err;
  }
}

const tagOf = (db: DBInstance, key: string) => db.TagList?.find((t) => t.Key === key)?.Value;

export interface PromoteOptions {
  pollIntervalMs: number;
  /**
   * Real RDS drops ReadReplicaSourceDBInstanceIdentifier once the promotion is done; emulators may never do.
   * After this long `available` with the link still present counts as promoted.
   */
  linkGraceMs: number;
}

export async function fence(rds: RDSClient, id: string, fenced: boolean, token: string): Promise<StepOutcome> {
  const db = await describeDb(rds, id);
  if (!db?.DBInstanceArn) throw new Error(`database ${id} not found`);
  const cur = tagOf(db, FENCE_TAG);
  if (fenced) {
    if (cur === token) return { changed: false, detail: `${id} already fenced by ${token}` };
    await rds.send(
      new AddTagsToResourceCommand({ ResourceName: db.DBInstanceArn, Tags: [{ Key: FENCE_TAG, Value: token }] }),
    );
    return { changed: true, detail: `${id} fenced (${FENCE_TAG}=${token})` };
  }
  if (cur === undefined) return { changed: false, detail: `${id} is not fenced` };
  await rds.send(new RemoveTagsFromResourceCommand({ ResourceName: db.DBInstanceArn, TagKeys: [FENCE_TAG] }));
  return { changed: true, detail: `${id} unfenced` };
}

export async function promote(
  rds: RDSClient,
  id: string,
  ctx: OpContext,
  opts: PromoteOptions,
): Promise<PromoteOutcome> {
  const db = await describeDb(rds, id);
  if (!db?.DBInstanceArn) throw new Error(`replica ${id} not found`);
  const marker = tagOf(db, PROMOTED_TAG);
  let alreadyPromoted = false;
  let startedAt = marker ? Date.parse(marker.split('@')[1] ?? '') || Date.now() : Date.now();
  if (!db.ReadReplicaSourceDBInstanceIdentifier) {
    alreadyPromoted = true; // a standalone instance: promoted before (by us or by hand)
  } else if (marker) {
    ctx.heartbeat({ resumed: marker }); // this or an earlier attempt already asked RDS to promote
  } else {
    try {
      await rds.send(new PromoteReadReplicaCommand({ DBInstanceIdentifier: id }));
    } catch (err) {
      // RDS refuses a second promotion while the first runs: that is the outcome we want.
      if ((err as Error).name !== 'InvalidDBInstanceStateFault' && (err as Error).name !== 'InvalidDBInstanceState')
        throw err;
    }
    startedAt = Date.now();
    await rds.send(
      new AddTagsToResourceCommand({
        ResourceName: db.DBInstanceArn,
        Tags: [{ Key: PROMOTED_TAG, Value: `${ctx.failoverId}@${new Date(startedAt).toISOString()}` }],
      }),
    );
  }
  let sawTransition = false;
  for (;;) {
    const cur = await describeDb(rds, id);
    const status = cur?.DBInstanceStatus ?? 'missing';
    ctx.heartbeat({ status });
    if (status !== 'available') sawTransition = true;
    const linkGone = !cur?.ReadReplicaSourceDBInstanceIdentifier;
    if (
      status === 'available' &&
      (alreadyPromoted || linkGone || sawTransition || Date.now() - startedAt >= opts.linkGraceMs)
    )
      break;
    if (ctx.signal.aborted) throw new Error('promotion wait cancelled');
    await new Promise((r) => setTimeout(r, opts.pollIntervalMs));
  }
  if (alreadyPromoted)
    return { changed: false, alreadyPromoted: true, detail: `${id} is already a standalone primary` };
  return {
    changed: !marker,
    alreadyPromoted: false,
    detail: marker ? `${id} promotion resumed (${marker}) and available` : `${id} promoted and available`,
  };
}

/** Undoing a promotion needs a new replica built from the source: never automatic, always reported. */
export async function reattach(rds: RDSClient, id: string, sourceId: string | undefined): Promise<StepOutcome> {
  const db = await describeDb(rds, id);
  if (db && !tagOf(db, PROMOTED_TAG) && db.ReadReplicaSourceDBInstanceIdentifier) {
    return { changed: false, detail: `${id} was not promoted: nothing to undo` };
  }
  return {
    changed: false,
    manual: true,
    detail: `${id} was promoted and RDS cannot demote it: create a new read replica of ${sourceId ?? 'the source'} (or rename and re-replicate) to restore replication`,
  };
}
