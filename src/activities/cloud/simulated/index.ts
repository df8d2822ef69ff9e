/**
 * The failover interface on the simulated world: DNS weights, capacity per side, a primary database with a
 * lagging replica, and the global state with a conditional lock, all in one JSON file per group. It behaves
 * like the AWS implementation (same idempotency, same lock semantics) so the quick start's `web` group runs
 * every stage with no credentials.
 */
import type { FailoverSide, FailoverStageName } from '../../../contracts/failover';
import { isInjectedStep } from '../../../contracts/failover';
import {
  LockExpiredError,
  LockHeldError,
  SideUnreachableError,
  type CloudReadiness,
  type FailoverCloud,
  type GroupRef,
  type HealthReport,
  type OpContext,
  type StepOutcome,
} from '../failover-cloud';
import { logChange, SimulatedWorldStore, type SimWorld } from './world';

export { SimulatedWorldStore, setSimulatedFaults, initialWorld, type SimFaults, type SimWorld } from './world';

const MAX_HISTORY = 20;
const other = (s: FailoverSide): FailoverSide => (s === 'primary' ? 'secondary' : 'primary');

function reachable(w: SimWorld, side: FailoverSide): void {
  if (w.faults.unreachable?.includes(side)) {
    throw new SideUnreachableError(
      `${side} region ${w.sides[side].region} is unreachable (simulated outage): ETIMEDOUT`,
    );
  }
}

function lagOf(w: SimWorld, replicaSide: FailoverSide): number {
  const src = w.sides[other(replicaSide)].db;
  // A fenced source takes no writes, so the replica catches up; otherwise it trails by the configured lag.
  return src.fencedBy ? 0 : (w.faults.replicaLagSeconds ?? 2);
}

/** Factory over a data directory (the worker passes e.g. `.data/failover`). */
export function createSimulatedFailoverActivities(
  deps: { dataDir: string } | { store: SimulatedWorldStore },
): FailoverCloud {
  const store = 'store' in deps ? deps.store : new SimulatedWorldStore(deps.dataDir);
  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => (clearTimeout(t), reject(new Error('cancelled'))), { once: true });
    });

  /** A state change on one side: fails when the side is unreachable, logs when something changed. */
  async function change(
    g: GroupRef,
    side: FailoverSide,
    op: string,
    fn: (w: SimWorld) => StepOutcome,
  ): Promise<StepOutcome> {
    return store.mutate(g, (w) => {
      reachable(w, side);
      const out = fn(w);
      if (out.changed) logChange(w, op, out.detail);
      return out;
    });
  }

  const cloud: FailoverCloud = {
    async readiness(g, { from, to, mode }): Promise<CloudReadiness> {
      const w = await store.read(g);
      const down = new Set(w.faults.unreachable ?? []);
      const tdb = w.sides[to].db;
      const checks: CloudReadiness['checks'] = [
        {
          name: 'target_reachable',
          ok: !down.has(to),
          side: to,
          detail: `${w.sides[to].region}${down.has(to) ? ' unreachable' : ' reachable'}`,
        },
        {
          name: 'target_replica_available',
          ok: tdb.role === 'replica' && tdb.status === 'available',
          side: to,
          detail: `${tdb.id}: ${tdb.role}, ${tdb.status}`,
        },
        { name: 'target_capacity_group', ok: true, side: to, detail: `max ${w.sides[to].capacity.max}` },
      ];
      if (mode === 'planned') {
        checks.push({
          name: 'source_reachable',
          ok: !down.has(from),
          side: from,
          detail: `${w.sides[from].region}${down.has(from) ? ' unreachable: use mode "emergency"' : ' reachable'}`,
        });
      }
      const capacity: CloudReadiness['capacity'] = {};
      for (const s of ['primary', 'secondary'] as const) if (!down.has(s)) capacity[s] = { ...w.sides[s].capacity };
      const weights = (['primary', 'secondary'] as const).map((s) => `${s}=${w.sides[s].dnsWeight}`).join(', ');
      const dnsWeights = { primary: w.sides.primary.dnsWeight, secondary: w.sides.secondary.dnsWeight };
      return {
        checks,
        capacity,
        traffic: `${w.record} weights ${weights}`,
        trafficSnapshot: { detail: `${w.record} weights ${weights}`, weights: dnsWeights },
        resources: {
          dns: w.record,
          primary: {
            capacity: `${g.name} instances`,
            database: w.sides.primary.db.id,
            health: `${g.name} ${w.sides.primary.region}`,
          },
          secondary: {
            capacity: `${g.name} instances`,
            database: w.sides.secondary.db.id,
            health: `${g.name} ${w.sides.secondary.region}`,
          },
        },
      };
    },

    async readState(g) {
      return (await store.read(g)).global;
    },

    async acquireLock(g, { owner, ttlMs, intent }) {
      return store.mutate(g, (w) => {
        const l = w.global.lock;
        // The conditional write: free, expired, or ours.
        if (l && l.owner !== owner && Date.parse(l.expiresAt) > Date.now())
          throw new LockHeldError(l.owner, l.expiresAt);
        w.global.lock = { owner, expiresAt: new Date(Date.now() + ttlMs).toISOString() };
        if (intent) w.global.intent = intent;
        if (!l || l.owner !== owner) logChange(w, 'lock', `acquired by ${owner}`);
        return structuredClone(w.global);
      });
    },

    async releaseLock(g, owner) {
      return store.mutate(g, (w) => {
        if (w.global.lock?.owner !== owner) return false;
        delete w.global.lock;
        delete w.global.intent;
        logChange(w, 'lock', `released by ${owner}`);
        return true;
      });
    },

    async commit(g, { owner, entry, attention }) {
      return store.mutate(g, (w) => {
        if (w.global.lastFailoverId === entry.failoverId) return structuredClone(w.global); // a retried commit
        if (w.global.lock?.owner !== owner) throw new LockHeldError(w.global.lock?.owner, w.global.lock?.expiresAt);
        if (Date.parse(w.global.lock.expiresAt) <= Date.now())
          throw new LockExpiredError(owner, w.global.lock.expiresAt);
        w.global.epoch += 1;
        w.global.activeSide = entry.to;
        w.global.lastFailoverId = entry.failoverId;
        w.global.history = [...w.global.history, { ...entry, epoch: w.global.epoch }].slice(-MAX_HISTORY);
        if (attention) {
          // A failover that ended part-way: the old side may be down, so nothing is re-seeded behind a human's back.
          w.global.attention = attention;
          logChange(
            w,
            'commit',
            `${entry.to} active at epoch ${w.global.epoch}, incomplete: ${attention.manualSteps.length} manual steps`,
          );
          return structuredClone(w.global);
        }
        delete w.global.attention;
        // Simulated re-seed: the old side becomes a replica of the new primary, so failing back works later.
        const old = w.sides[entry.from].db;
        old.role = 'replica';
        old.status = 'available';
        delete old.fencedBy;
        logChange(w, 'commit', `${entry.to} active at epoch ${w.global.epoch}; ${old.id} re-seeded as a replica`);
        return structuredClone(w.global);
      });
    },

    drainTraffic: (g, side) =>
      store.mutate(g, (w) => {
        const changed = w.sides[side].dnsWeight !== 0;
        w.sides[side].dnsWeight = 0;
        const out = { changed, detail: `${w.record}: ${side} weight 0` };
        if (changed) logChange(w, 'dns', out.detail);
        return out;
      }),

    routeTraffic: (g, side) =>
      store.mutate(g, (w) => {
        const changed = w.sides[side].dnsWeight !== 100 || w.sides[other(side)].dnsWeight !== 0;
        w.sides[side].dnsWeight = 100;
        w.sides[other(side)].dnsWeight = 0;
        const out = { changed, detail: `${w.record} → ${w.sides[side].endpoint} (${side} 100, ${other(side)} 0)` };
        if (changed) logChange(w, 'dns', out.detail);
        return out;
      }),

    restoreTraffic: (g, snapshot) =>
      store.mutate(g, (w) => {
        let changed = false;
        for (const side of ['primary', 'secondary'] as const) {
          const weight = snapshot.weights?.[side];
          if (weight === undefined || w.sides[side].dnsWeight === weight) continue;
          w.sides[side].dnsWeight = weight;
          changed = true;
        }
        const now = (['primary', 'secondary'] as const).map((s) => `${s} ${w.sides[s].dnsWeight}`).join(', ');
        const out = { changed, detail: `${w.record} weights restored (${now})` };
        if (changed) logChange(w, 'dns', out.detail);
        return out;
      }),

    scale: (g, side, cap) =>
      change(g, side, 'capacity', (w) => {
        const c = w.sides[side].capacity;
        const changed = c.min !== cap.min || c.max !== cap.max || c.desired !== cap.desired;
        w.sides[side].capacity = { ...cap };
        return {
          changed,
          detail: `${side} (${w.sides[side].region}) capacity desired ${cap.desired}, min ${cap.min}, max ${cap.max}`,
        };
      }),

    fenceDatabase: (g, side, fenced, ctx) =>
      change(g, side, 'fence', (w) => {
        const db = w.sides[side].db;
        const changed = fenced ? db.fencedBy !== ctx.failoverId : db.fencedBy !== undefined;
        if (fenced) db.fencedBy = ctx.failoverId;
        else delete db.fencedBy;
        return { changed, detail: `${db.id} ${fenced ? `fenced by ${ctx.failoverId}` : 'unfenced'}` };
      }),

    async replicationLag(g, side) {
      const w = await store.read(g);
      reachable(w, side);
      const lag = lagOf(w, side);
      return {
        lagSeconds: lag,
        source: 'reported',
        detail: `${w.sides[side].db.id} reports ${lag}s behind ${w.sides[other(side)].db.id}`,
      };
    },

    async promoteReplica(g, side, ctx: OpContext) {
      const start = await store.mutate(g, (w) => {
        reachable(w, side);
        const db = w.sides[side].db;
        if (db.role === 'primary') return { done: true, db: { ...db } };
        if (db.status !== 'promoting') {
          // Only a replica that is not already promoting starts a promotion: a retried activity resumes it.
          db.status = 'promoting';
          db.promotingSince = new Date().toISOString();
          db.promotions += 1;
          logChange(w, 'promote', `${db.id} promotion started by ${ctx.failoverId}`);
        }
        return { done: false, db: { ...db }, ms: w.faults.promotionMs ?? 300 };
      });
      if (start.done) return { changed: false, alreadyPromoted: true, detail: `${start.db.id} is already a primary` };
      const remaining = Math.max(0, Date.parse(start.db.promotingSince!) + (start.ms ?? 0) - Date.now());
      for (let left = remaining; left > 0; left -= 200) {
        ctx.heartbeat({ promoting: start.db.id });
        await sleep(Math.min(200, left), ctx.signal);
      }
      return store.mutate(g, (w) => {
        const db = w.sides[side].db;
        const resumed = db.role === 'primary';
        db.role = 'primary';
        db.status = 'available';
        delete db.promotingSince;
        if (!resumed) logChange(w, 'promote', `${db.id} is primary`);
        return {
          changed: !resumed,
          alreadyPromoted: false,
          detail: `${db.id} promoted to primary in ${w.sides[side].region}`,
        };
      });
    },

    reattachReplica: (g, side, source) =>
      change(g, side, 'reattach', (w) => {
        const db = w.sides[side].db;
        const changed = db.role !== 'replica';
        db.role = 'replica';
        db.status = 'available';
        return { changed, detail: `${db.id} re-attached as a replica of ${w.sides[source].db.id} (simulated re-seed)` };
      }),

    async health(g, side): Promise<HealthReport> {
      const w = await store.read(g);
      reachable(w, side);
      const s = w.sides[side];
      const problems = [
        w.faults.unhealthy?.includes(side) ? 'health checks failing (injected)' : '',
        s.capacity.desired === 0 ? 'no instances' : '',
        s.db.role !== 'primary' || s.db.fencedBy ? `database ${s.db.id} is not writable` : '',
      ].filter(Boolean);
      return {
        healthy: problems.length === 0,
        detail: problems.length
          ? `${side}: ${problems.join('; ')}`
          : `${side}: ${s.capacity.desired} healthy instances, ${s.db.id} writable`,
      };
    },

    async injectedFault(g, stage: FailoverStageName, step: string) {
      const w = await store.read(g);
      return isInjectedStep(w.faults.failStep, stage, step)
        ? `injected failure in ${stage}/${step} (simulated world of ${g.name})`
        : undefined;
    },
  };
  return cloud;
}
