/**
 * The six stages of a FailoverWorkflow as functions over one run's recorder: which activity each step calls,
 * with which timeout profile, and which compensation it registers BEFORE it runs. The orchestration
 * (approval, failure handling, the lock release) stays in failover.ts.
 */
import { ApplicationFailure, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { FailoverActivities, FailoverReadiness, StepRequest } from '../activities/cloud/failover-activities';
import { isInjectedStep, type FailoverInput, type FailoverSide, type FailoverStageName } from '../contracts/failover';
import { errorOf, type FailoverRecorder } from './failover-record';

const NON_RETRYABLE = ['FAILOVER_IN_PROGRESS', 'FAILOVER_NOT_READY', 'FAILOVER_GROUP_NOT_FOUND', 'CONFIG_INVALID'];

/** Lock, global state, readiness: quick calls, retried briefly. */
const control: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** A step that must succeed (target side; source side in planned mode), else the saga compensates. */
const mustStep: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 5, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Emergency source steps: the region may be down, so fail fast and move on. */
const bestEffort: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Promotion takes minutes on RDS: heartbeats let a dead worker's attempt be retried within 10 s, and the retry never promotes twice. */
const promotion: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 10, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Health verification polls inside the activity for up to `healthTimeoutMs`. */
const verify: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 2, nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Compensations put the source back: retried hard, recorded whatever happens. */
const undo: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 8, initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE },
};

const ctl = proxyActivities<FailoverActivities>(control);
const must = proxyActivities<FailoverActivities>(mustStep);
const soft = proxyActivities<FailoverActivities>(bestEffort);
const promote = proxyActivities<FailoverActivities>(promotion);
const verifying = proxyActivities<FailoverActivities>(verify);
const comp = proxyActivities<FailoverActivities>(undo);

const DEFAULT_LOCK_TTL_MS = 15 * 60_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 5 * 60_000;

/** The stage functions of one run. */
export function failoverStages(input: FailoverInput, rec: FailoverRecorder) {
  const f = rec.f;
  const emergency = input.mode === 'emergency';
  const lockTtlMs = input.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const src = emergency ? soft : must;
  const req = (stage: FailoverStageName, step: string, side: FailoverSide): StepRequest => ({
    group: input.group,
    failoverId: input.id,
    stage,
    step,
    side,
    injectFailure: isInjectedStep(input.injectFailure, stage, step) || undefined,
  });
  const renewLock = (stage: FailoverStageName) =>
    ctl.failoverAcquireLock({ group: input.group, failoverId: input.id, ttlMs: lockTtlMs, stage });

  return {
    /** Stage 1: readiness of the target, then (unless a dry run) the global lock with the intent recorded. */
    initialization: () =>
      rec.runStage('initialization', async (s): Promise<FailoverReadiness> => {
        const r = (await rec.step(s, 'readiness', async () => {
          const out = await ctl.failoverReadiness({
            group: input.group,
            failoverId: input.id,
            mode: input.mode,
            to: input.to,
          });
          const failing = out.checks.filter((c) => !c.ok).length;
          return {
            ...out,
            detail: `${out.from} (${out.fromRegion}) → ${out.to} (${out.toRegion}): ${failing} failing checks`,
          };
        }))!;
        Object.assign(f, {
          from: r.from,
          to: r.to,
          fromRegion: r.fromRegion,
          toRegion: r.toRegion,
          readiness: r.checks,
          plan: r.plan,
        });
        const failing = r.checks.filter((c) => !c.ok);
        if (failing.length > 0) {
          // A held lock alone is "in progress" (the API's 409), not "not ready".
          const inProgress = failing.every((c) => c.name === 'global_lock_free');
          const why = failing.map((c) => `${c.name}${c.detail ? ` (${c.detail})` : ''}`).join('; ');
          throw ApplicationFailure.create({
            type: inProgress ? 'FAILOVER_IN_PROGRESS' : 'FAILOVER_NOT_READY',
            message: `${inProgress ? 'another failover is in progress' : 'not ready'}: ${why}`,
            nonRetryable: true,
          });
        }
        if (input.dryRun) return r;
        const intent = { failoverId: input.id, from: r.from, to: r.to, mode: input.mode, startedAt: input.decidedAt };
        // The first hold covers the approval wait too; every later stage renews it.
        const ttlMs = lockTtlMs + (input.approvalPolicy.required > 0 ? input.approvalPolicy.timeoutMs : 0);
        await rec.step(s, 'acquire_lock', async () => {
          const st = await ctl.failoverAcquireLock({
            group: input.group,
            failoverId: input.id,
            ttlMs,
            intent,
            stage: 'initialization',
            injectFailure: isInjectedStep(input.injectFailure, 'initialization', 'acquire_lock') || undefined,
          });
          return { detail: `lock held until ${st.lock?.expiresAt}; active ${st.activeSide} at epoch ${st.epoch}` };
        });
        return r;
      }),

    /** Stage 2: drain, then scale the source down. Best effort in emergency mode. */
    sourcePreparation: ({ from, capacity }: FailoverReadiness) =>
      rec.runStage('source_preparation', async (s) => {
        await renewLock('source_preparation');
        rec.compensate('source_preparation', 'restore_traffic', () =>
          comp.failoverRouteTraffic(req('source_preparation', 'restore_traffic', from)),
        );
        const drain = req('source_preparation', 'drain_traffic', from);
        await rec.step(s, 'drain_traffic', () => src.failoverDrainTraffic(drain), emergency);
        const cap = capacity[from];
        if (cap) {
          rec.compensate('source_preparation', 'restore_source_capacity', () =>
            comp.failoverScale({ ...req('source_preparation', 'restore_source_capacity', from), capacity: cap }),
          );
        }
        const scale = {
          ...req('source_preparation', 'scale_source', from),
          capacity: { min: 0, max: cap?.max ?? 0, desired: 0 },
        };
        await rec.step(s, 'scale_source', () => src.failoverScale(scale), emergency);
      }),

    /** Stage 3: fence the source database so it takes no more writes. Best effort in emergency mode. */
    demotion: ({ from }: FailoverReadiness) =>
      rec.runStage('demotion', async (s) => {
        rec.compensate('demotion', 'unfence_source_database', () =>
          comp.failoverFenceDatabase({ ...req('demotion', 'unfence_source_database', from), fenced: false }),
        );
        const fence = { ...req('demotion', 'fence_database', from), fenced: true };
        await rec.step(s, 'fence_database', () => src.failoverFenceDatabase(fence), emergency);
      }),

    /** Stage 4: measure the lag (the RPO), then promote the target replica. */
    promotion: ({ from, to }: FailoverReadiness) =>
      rec.runStage('promotion', async (s) => {
        await renewLock('promotion');
        const lag = await rec.step(s, 'replication_lag', () =>
          must.failoverReplicationLag(req('promotion', 'replication_lag', to)),
        );
        f.rpoSeconds = lag?.lagSeconds;
        f.rpoSource = lag?.source;
        rec.compensate('promotion', 'reattach_replica', () =>
          comp.failoverReattachReplica({ ...req('promotion', 'reattach_replica', to), source: from }),
        );
        await rec.step(s, 'promote_replica', () =>
          promote.failoverPromoteReplica(req('promotion', 'promote_replica', to)),
        );
      }),

    /** Stage 5: capacity first, then traffic, then proof that the target serves (the end of the RTO). */
    targetActivation: ({ from, to, capacity, targetCapacity }: FailoverReadiness) =>
      rec.runStage('target_activation', async (s) => {
        await renewLock('target_activation');
        const before = capacity[to];
        if (before) {
          rec.compensate('target_activation', 'restore_target_capacity', () =>
            comp.failoverScale({ ...req('target_activation', 'restore_target_capacity', to), capacity: before }),
          );
        }
        const scale = { ...req('target_activation', 'scale_target', to), capacity: targetCapacity };
        await rec.step(s, 'scale_target', () => must.failoverScale(scale));
        rec.compensate('target_activation', 'route_traffic_back', () =>
          comp.failoverRouteTraffic(req('target_activation', 'route_traffic_back', from)),
        );
        await rec.step(s, 'switch_traffic', () =>
          must.failoverRouteTraffic(req('target_activation', 'switch_traffic', to)),
        );
        const timeoutMs = input.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
        const verify = { ...req('target_activation', 'verify_health', to), timeoutMs };
        await rec.step(s, 'verify_health', () => verifying.failoverVerifyHealth(verify));
        f.rtoSeconds = Math.round((Date.now() - Date.parse(input.decidedAt)) / 100) / 10;
      }),

    /** Stage 6: the new active side and epoch in global state; after it nothing is compensated. */
    completion: ({ from, to }: FailoverReadiness) =>
      rec.runStage('completion', async (s) => {
        await rec.step(s, 'commit', async () => {
          const entry = {
            failoverId: input.id,
            from,
            to,
            mode: input.mode,
            completedAt: rec.now(),
            rtoSeconds: f.rtoSeconds,
            rpoSeconds: f.rpoSeconds,
          };
          const st = await must.failoverCommit({ ...req('completion', 'commit', to), entry });
          f.epoch = st.epoch;
          return { detail: `${st.activeSide} active at epoch ${st.epoch}` };
        });
        rec.clearCompensations();
      }),

    /** Releases the global lock if this run holds it; a failure is reported, the lock expires on its own. */
    async releaseLock(): Promise<void> {
      try {
        const released = await ctl.failoverReleaseLock({ group: input.group, failoverId: input.id });
        rec.event('info', released ? 'global lock released' : 'global lock was not held');
      } catch (err) {
        rec.event('error', `could not release the global lock: ${errorOf(err).message}`);
      }
    },
  };
}
