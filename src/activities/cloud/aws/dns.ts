/**
 * Route53 traffic steps. The group's record (`recordName`, default `<group>.<route53Zone>`) is either a pair of
 * weighted records, a PRIMARY/SECONDARY failover pair, or one simple record. A side's record is the one whose
 * SetIdentifier is the side name or its region (or whose value is the side's `endpoint`). Every change is an
 * UPSERT of an absolute desired state in one change batch, so a retry is harmless.
 */
import {
  ChangeResourceRecordSetsCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import type { FailoverSide } from '../../../contracts/failover';
import type { GroupRef, StepOutcome, TrafficSnapshot } from '../failover-cloud';

export type Routing = 'weighted' | 'failover' | 'simple' | 'none';

const other = (s: FailoverSide): FailoverSide => (s === 'primary' ? 'secondary' : 'primary');
const norm = (n: string) => n.replace(/\.$/, '').toLowerCase();

/** The zone and record a group's traffic steps act on, or undefined when none is configured. */
export function recordOf(g: GroupRef): { zone: string; name: string } | undefined {
  const zone = g.cfg.primary.route53Zone ?? g.cfg.secondary.route53Zone;
  if (!zone) return undefined;
  return { zone, name: g.cfg.primary.recordName ?? g.cfg.secondary.recordName ?? `${g.name}.${zone}` };
}

export interface GroupRecords {
  zoneId: string;
  name: string;
  routing: Routing;
  records: ResourceRecordSet[];
  of(side: FailoverSide): ResourceRecordSet | undefined;
}

async function zoneIdOf(r53: Route53Client, zone: string): Promise<string> {
  if (zone.startsWith('/hostedzone/') || /^Z[A-Z0-9]{6,}$/.test(zone)) return zone;
  const res = await r53.send(new ListHostedZonesByNameCommand({ DNSName: zone }));
  const hit = res.HostedZones?.find((z) => norm(z.Name ?? '') === norm(zone));
  if (!hit?.Id) throw new Error(`Route53 hosted zone ${zone} not found`);
  return hit.Id;
}

/** Reads the group's record sets and works out which side each belongs to. */
export async function readRecords(r53: Route53Client, g: GroupRef): Promise<GroupRecords | undefined> {
  const rec = recordOf(g);
  if (!rec) return undefined;
  const zoneId = await zoneIdOf(r53, rec.zone);
  const res = await r53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: rec.name, MaxItems: 100 }),
  );
  const records = (res.ResourceRecordSets ?? []).filter(
    (r) => norm(r.Name ?? '') === norm(rec.name) && r.Type !== 'TXT',
  );
  const routing: Routing =
    records.length === 0
      ? 'none'
      : records.some((r) => r.Weight !== undefined)
        ? 'weighted'
        : records.some((r) => r.Failover)
          ? 'failover'
          : 'simple';
  const of = (side: FailoverSide) =>
    records.find((r) => r.SetIdentifier === side || r.SetIdentifier === g.cfg[side].region) ??
    records.find((r) => g.cfg[side].endpoint && r.ResourceRecords?.some((v) => v.Value === g.cfg[side].endpoint));
  return { zoneId, name: rec.name, routing, records, of };
}

/** What resolvers get: the values of the records Route53 would answer with (health checks aside). */
export function answerOf(r: GroupRecords): { values: string[]; sides: FailoverSide[] } {
  const live =
    r.routing === 'weighted'
      ? r.records.filter((x) => (x.Weight ?? 0) > 0).length
        ? r.records.filter((x) => (x.Weight ?? 0) > 0)
        : r.records // all weights 0: Route53 answers with every record
      : r.routing === 'failover'
        ? r.records.filter((x) => x.Failover === 'PRIMARY')
        : r.records;
  const values = live.flatMap(
    (x) => x.ResourceRecords?.map((v) => v.Value ?? '') ?? (x.AliasTarget?.DNSName ? [x.AliasTarget.DNSName] : []),
  );
  const sides = (['primary', 'secondary'] as const).filter((s) => {
    const mine = r.of(s);
    return mine && live.includes(mine);
  });
  return { values, sides };
}

async function upsert(r53: Route53Client, zoneId: string, sets: ResourceRecordSet[], comment: string): Promise<void> {
  await r53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: { Comment: comment, Changes: sets.map((s) => ({ Action: 'UPSERT', ResourceRecordSet: s })) },
    }),
  );
}

/** Weight 0 for `side` (weighted routing); failover and simple records have nothing to drain. */
export async function drain(r53: Route53Client, g: GroupRef, side: FailoverSide, why: string): Promise<StepOutcome> {
  const r = await readRecords(r53, g);
  if (!r || r.routing === 'none') return { changed: false, detail: 'no Route53 record configured: nothing to drain' };
  if (r.routing !== 'weighted')
    return { changed: false, detail: `${r.name} uses ${r.routing} routing: traffic moves at the switch` };
  const mine = r.of(side);
  if (!mine)
    throw new Error(`no weighted record of ${side} at ${r.name} (SetIdentifier "${side}" or "${g.cfg[side].region}")`);
  if (mine.Weight === 0) return { changed: false, detail: `${r.name}/${mine.SetIdentifier} already weight 0` };
  await upsert(r53, r.zoneId, [{ ...mine, Weight: 0 }], why);
  return { changed: true, detail: `${r.name}/${mine.SetIdentifier} weight ${mine.Weight} → 0` };
}

/** Points the record at `side` only: weights 100/0, PRIMARY/SECONDARY roles swapped, or the simple value replaced. */
export async function route(r53: Route53Client, g: GroupRef, side: FailoverSide, why: string): Promise<StepOutcome> {
  const r = await readRecords(r53, g);
  if (!r || r.routing === 'none') return { changed: false, detail: 'no Route53 record configured: nothing to switch' };
  if (r.routing === 'simple') {
    const endpoint = g.cfg[side].endpoint;
    if (!endpoint) throw new Error(`${r.name} is a simple record: set ${side}.endpoint to switch it`);
    const cur = r.records[0];
    if (cur.ResourceRecords?.length === 1 && cur.ResourceRecords[0].Value === endpoint)
      return { changed: false, detail: `${r.name} already → ${endpoint}` };
    await upsert(r53, r.zoneId, [{ ...cur, ResourceRecords: [{ Value: endpoint }] }], why);
    return { changed: true, detail: `${r.name} → ${endpoint}` };
  }
  const mine = r.of(side);
  const theirs = r.of(other(side));
  if (!mine)
    throw new Error(
      `no ${r.routing} record of ${side} at ${r.name} (SetIdentifier "${side}" or "${g.cfg[side].region}")`,
    );
  const sets: ResourceRecordSet[] = [];
  if (r.routing === 'weighted') {
    if (mine.Weight !== 100) sets.push({ ...mine, Weight: 100 });
    if (theirs && theirs.Weight !== 0) sets.push({ ...theirs, Weight: 0 });
  } else {
    if (mine.Failover !== 'PRIMARY') sets.push({ ...mine, Failover: 'PRIMARY' });
    if (theirs && theirs.Failover !== 'SECONDARY') sets.push({ ...theirs, Failover: 'SECONDARY' });
  }
  if (sets.length === 0)
    return { changed: false, detail: `${r.name} already answers with ${side} (${mine.SetIdentifier})` };
  await upsert(r53, r.zoneId, sets, why);
  return {
    changed: true,
    detail: `${r.name} → ${side} (${mine.ResourceRecords?.map((v) => v.Value).join(', ') ?? mine.AliasTarget?.DNSName})`,
  };
}

/** The group's record sets as they are now, for a rollback to put back verbatim. */
export async function snapshotTraffic(r53: Route53Client, g: GroupRef): Promise<TrafficSnapshot | undefined> {
  const r = await readRecords(r53, g);
  if (!r || r.routing === 'none') return undefined;
  const a = answerOf(r);
  return { detail: `${r.name} (${r.routing}) answers ${a.values.join(', ')}`, records: r.records };
}

const sameRecord = (a: ResourceRecordSet, b: ResourceRecordSet) =>
  a.Weight === b.Weight &&
  a.Failover === b.Failover &&
  JSON.stringify(a.ResourceRecords ?? []) === JSON.stringify(b.ResourceRecords ?? []);

/** UPSERTs the snapshot's record sets that differ from what the zone holds now, in one change batch. */
export async function restore(
  r53: Route53Client,
  g: GroupRef,
  snapshot: TrafficSnapshot,
  why: string,
): Promise<StepOutcome> {
  const r = await readRecords(r53, g);
  const saved = (snapshot.records ?? []) as ResourceRecordSet[];
  if (!r || saved.length === 0) return { changed: false, detail: 'no Route53 record captured: nothing to restore' };
  const key = (x: ResourceRecordSet) => x.SetIdentifier ?? '';
  const changed = saved.filter((x) => {
    const now = r.records.find((y) => key(y) === key(x));
    return !now || !sameRecord(now, x);
  });
  if (changed.length === 0) return { changed: false, detail: `${r.name} already as captured: ${snapshot.detail}` };
  await upsert(r53, r.zoneId, changed, why);
  return { changed: true, detail: `${r.name} restored: ${snapshot.detail}` };
}

/** One line for the plan: where the record sends traffic now. */
export async function describeTraffic(r53: Route53Client, g: GroupRef): Promise<string> {
  const r = await readRecords(r53, g);
  if (!r || r.routing === 'none') return 'no Route53 record';
  const a = answerOf(r);
  return `${r.name} (${r.routing}) answers ${a.values.join(', ')} [${a.sides.join(', ') || 'unknown side'}]`;
}
