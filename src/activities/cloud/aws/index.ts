/**
 * The failover interface on AWS SDK v3: Route53 for traffic, Auto Scaling for capacity, RDS for the database,
 * ELBv2 target health (or Auto Scaling InService instances) for health, DynamoDB for the global state.
 * Clients are injected, so the same code runs against real AWS and against moto.
 */
import {
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { DescribeTargetGroupsCommand, DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { FailoverSide } from '../../../contracts/failover';
import type {
  Capacity,
  CloudReadiness,
  FailoverCloud,
  GroupRef,
  HealthReport,
  LagReport,
  TrafficSnapshot,
} from '../failover-cloud';
import { readinessChecks } from '../failover-cloud';
import type { AwsFailoverClients } from './clients';
import { dbIdOf, describeDb, fence, promote, reattach } from './database';
import { describeTraffic, drain, readRecords, recordOf, restore, route, snapshotTraffic } from './dns';
import { globalStateRegionOf, globalStateTable } from './global-state';

export { createAwsClients, type AwsClientsOptions, type AwsFailoverClients } from './clients';
export { answerOf, readRecords } from './dns';
export { FENCE_TAG, PROMOTED_TAG } from './database';
export { globalStateRegionOf } from './global-state';

export interface AwsFailoverOptions {
  clients: AwsFailoverClients;
  /** How often promotion and other waits poll (default 5 s). */
  pollIntervalMs?: number;
  /** See PromoteOptions.linkGraceMs (default 60 s; 0 for emulators that never drop the replica link). */
  promotionLinkGraceMs?: number;
  /** Reported replica lag in seconds (e.g. CloudWatch `ReplicaLag`); without it the checkpoint age is the RPO. */
  lagReporter?: (db: { region: string; dbInstanceIdentifier: string }) => Promise<number | undefined>;
  /** Create the global-state table on first use (default true). */
  createTableIfMissing?: boolean;
}

/** Factory over injected clients (createAwsClients builds them for real AWS or an emulator endpoint). */
export function createAwsFailoverActivities(opts: AwsFailoverOptions): FailoverCloud {
  const { clients } = opts;
  const pollIntervalMs = opts.pollIntervalMs ?? 5000;
  const state = (g: GroupRef) =>
    globalStateTable(clients.dynamodb(globalStateRegionOf(g.cfg)), g, {
      createTableIfMissing: opts.createTableIfMissing,
      formerDefault:
        g.cfg.globalStateRegion || g.cfg.primary.region === g.cfg.secondary.region
          ? undefined
          : clients.dynamodb(g.cfg.primary.region),
    });
  const region = (g: GroupRef, s: FailoverSide) => g.cfg[s].region;

  async function asgOf(g: GroupRef, side: FailoverSide): Promise<AutoScalingGroup | undefined> {
    const name = g.cfg[side].asg;
    if (!name) return undefined;
    const r = await clients
      .autoScaling(region(g, side))
      .send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    const asg = r.AutoScalingGroups?.[0];
    if (!asg) throw new Error(`Auto Scaling group ${name} not found in ${region(g, side)}`);
    return asg;
  }

  async function targetGroupArn(g: GroupRef, side: FailoverSide): Promise<string | undefined> {
    const tg = g.cfg[side].targetGroupArn;
    if (!tg || tg.startsWith('arn:')) return tg;
    const r = await clients.elbv2(region(g, side)).send(new DescribeTargetGroupsCommand({ Names: [tg] }));
    return r.TargetGroups?.[0]?.TargetGroupArn;
  }

  const capOf = (a: AutoScalingGroup): Capacity => ({
    min: a.MinSize ?? 0,
    max: a.MaxSize ?? 0,
    desired: a.DesiredCapacity ?? 0,
  });

  const cloud: FailoverCloud = {
    async readiness(g, { from, to, mode }): Promise<CloudReadiness> {
      const { checks, check } = readinessChecks();
      const capacity: CloudReadiness['capacity'] = {};
      const planned = mode === 'planned';
      for (const side of [to, from]) {
        const isTarget = side === to;
        const tag = isTarget ? 'target' : 'source';
        await check(
          `${tag}_capacity_group`,
          side,
          async () => {
            const a = await asgOf(g, side);
            if (!a) return { ok: true, detail: 'no Auto Scaling group configured' };
            capacity[side] = capOf(a);
            return {
              ok: true,
              detail: `${a.AutoScalingGroupName}: desired ${a.DesiredCapacity}, min ${a.MinSize}, max ${a.MaxSize}`,
            };
          },
          isTarget || planned,
        );
        const dbId = dbIdOf(g, side, isTarget ? 'target' : 'source');
        await check(
          isTarget ? 'target_replica_available' : 'source_database',
          side,
          async () => {
            if (!dbId) return { ok: true, detail: 'no database configured' };
            const db = await describeDb(clients.rds(region(g, side)), dbId);
            if (!db) return { ok: false, detail: `${dbId} not found in ${region(g, side)}` };
            const status = db.DBInstanceStatus ?? 'unknown';
            if (!isTarget) return { ok: status === 'available', detail: `${dbId}: ${status}` };
            const link = db.ReadReplicaSourceDBInstanceIdentifier;
            return {
              ok: status === 'available' && !!link,
              detail: `${dbId}: ${status}${link ? `, replica of ${link}` : ', not a read replica (promoted already?)'}`,
            };
          },
          isTarget || planned,
        );
        if (isTarget) {
          await check(
            'target_group',
            side,
            async () => {
              const arn = await targetGroupArn(g, side);
              return arn
                ? { ok: true, detail: arn }
                : {
                    ok: !g.cfg[side].targetGroupArn,
                    detail: g.cfg[side].targetGroupArn
                      ? `${g.cfg[side].targetGroupArn} not found`
                      : 'no target group configured',
                  };
            },
            true,
          );
        }
      }
      let traffic: string | undefined;
      let trafficSnapshot: TrafficSnapshot | undefined;
      await check(
        'dns_record',
        to,
        async () => {
          traffic = await describeTraffic(clients.route53(), g);
          trafficSnapshot = await snapshotTraffic(clients.route53(), g);
          const r = recordOf(g) ? await readRecords(clients.route53(), g) : undefined;
          const ok =
            !r || r.routing === 'none' ? !recordOf(g) : r.routing === 'simple' ? !!g.cfg[to].endpoint : !!r.of(to);
          return { ok, detail: traffic };
        },
        true,
      );
      const rec = recordOf(g);
      return {
        checks,
        capacity,
        traffic,
        trafficSnapshot,
        resources: {
          dns: rec?.name,
          primary: {
            capacity: g.cfg.primary.asg,
            database: dbIdOf(g, 'primary', from === 'primary' ? 'source' : 'target'),
            health: g.cfg.primary.targetGroupArn ?? g.cfg.primary.asg,
          },
          secondary: {
            capacity: g.cfg.secondary.asg,
            database: dbIdOf(g, 'secondary', from === 'secondary' ? 'source' : 'target'),
            health: g.cfg.secondary.targetGroupArn ?? g.cfg.secondary.asg,
          },
        },
      };
    },

    readState: (g) => state(g).read(),
    acquireLock: (g, { owner, ttlMs, intent }) => state(g).acquire(owner, ttlMs, intent),
    releaseLock: (g, owner) => state(g).release(owner),
    commit: (g, { owner, entry, attention }) => state(g).commit(owner, entry, attention),

    drainTraffic: (g, side, ctx) =>
      drain(clients.route53(), g, side, `strata failover ${ctx.failoverId}: drain ${side}`),
    routeTraffic: (g, side, ctx) =>
      route(clients.route53(), g, side, `strata failover ${ctx.failoverId}: traffic → ${side}`),
    restoreTraffic: (g, snapshot, ctx) =>
      restore(clients.route53(), g, snapshot, `strata failover ${ctx.failoverId}: traffic restored`),

    async scale(g, side, cap) {
      const a = await asgOf(g, side);
      if (!a) return { changed: false, detail: `no Auto Scaling group configured for ${side}` };
      const cur = capOf(a);
      if (cur.min === cap.min && cur.max === cap.max && cur.desired === cap.desired)
        return { changed: false, detail: `${a.AutoScalingGroupName} already at desired ${cap.desired}` };
      await clients.autoScaling(region(g, side)).send(
        new UpdateAutoScalingGroupCommand({
          AutoScalingGroupName: a.AutoScalingGroupName,
          MinSize: cap.min,
          MaxSize: cap.max,
          DesiredCapacity: cap.desired,
        }),
      );
      return {
        changed: true,
        detail: `${a.AutoScalingGroupName} (${region(g, side)}) desired ${cur.desired} → ${cap.desired}, min ${cap.min}, max ${cap.max}`,
      };
    },

    async fenceDatabase(g, side, fenced, ctx) {
      const id = dbIdOf(g, side, 'source');
      if (!id) return { changed: false, detail: `no database configured for ${side}` };
      return fence(clients.rds(region(g, side)), id, fenced, ctx.failoverId);
    },

    async replicationLag(g, side): Promise<LagReport> {
      const id = dbIdOf(g, side, 'target');
      if (id && opts.lagReporter) {
        const lag = await opts.lagReporter({ region: region(g, side), dbInstanceIdentifier: id });
        if (lag !== undefined)
          return { lagSeconds: lag, source: 'reported', detail: `${id} reports ${lag}s replica lag` };
      }
      const s = await state(g).read();
      if (s.replicationCheckpointAt) {
        const age = Math.max(0, (Date.now() - Date.parse(s.replicationCheckpointAt)) / 1000);
        return {
          lagSeconds: Math.round(age * 10) / 10,
          source: 'checkpoint',
          detail: `last confirmed replication checkpoint ${s.replicationCheckpointAt} (${age.toFixed(1)}s ago; an upper bound)`,
        };
      }
      return { source: 'unknown', detail: 'no reported lag and no replication checkpoint: RPO unknown' };
    },

    async promoteReplica(g, side, ctx) {
      const id = dbIdOf(g, side, 'target');
      if (!id) return { changed: false, alreadyPromoted: false, detail: `no database configured for ${side}` };
      return promote(clients.rds(region(g, side)), id, ctx, {
        pollIntervalMs,
        linkGraceMs: opts.promotionLinkGraceMs ?? 60_000,
      });
    },

    async reattachReplica(g, side, source) {
      const id = dbIdOf(g, side, 'target');
      if (!id) return { changed: false, detail: `no database configured for ${side}` };
      return reattach(clients.rds(region(g, side)), id, dbIdOf(g, source, 'source'));
    },

    async health(g, side): Promise<HealthReport> {
      const arn = await targetGroupArn(g, side);
      if (arn) {
        const r = await clients.elbv2(region(g, side)).send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
        const all = r.TargetHealthDescriptions ?? [];
        const healthy = all.filter((t) => t.TargetHealth?.State === 'healthy').length;
        return {
          healthy: healthy > 0,
          detail: `${side}: ${healthy}/${all.length} targets healthy in ${arn.split(':').pop()}`,
        };
      }
      const a = await asgOf(g, side);
      if (a) {
        const inService = (a.Instances ?? []).filter((i) => i.LifecycleState === 'InService').length;
        return {
          healthy: inService > 0,
          detail: `${side}: ${inService} InService instances in ${a.AutoScalingGroupName}`,
        };
      }
      return { healthy: true, detail: `${side}: no target group or Auto Scaling group configured (assumed healthy)` };
    },
  };
  return cloud;
}
