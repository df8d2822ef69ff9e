/**
 * The six stages of a FailoverWorkflow, one function each over the run's `StageRun`: which activity each step
 * calls, through which proxy (failover-run.ts), and which compensation it registers BEFORE it runs
 * (failover-compensations.ts). The orchestration (approval, failure handling, the lock) is in failover.ts and
 * failover-lock.ts.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { FailoverReadiness } from '../activities/cloud/failover-activities';
import { isInjectedStep, type FailoverStage } from '../contracts/failover';
import {
  undoDrain,
  undoFence,
  undoPromotion,
  undoSourceScale,
  undoSwitch,
  undoTargetScale,
} from './failover-compensations';
import { lockLostFailure, renewLock, whileHoldingLock } from './failover-lock';
import { errorOf } from './failover-record';
import {
  DEFAULT_HEALTH_TIMEOUT_MS,
  healthVerification,
  lockAndState,
  replicaPromotion,
  requiredSteps,
  stepRequest,
  type StageRun,
} from './failover-run';

/** Stage 1: readiness of the target, then (unless a dry run) the global lock with the intent recorded. */
export function initialization(run: StageRun): Promise<FailoverReadiness> {
  const { input, rec } = run;
  return rec.runStage('initialization', async (s) => {
    const r = await checkReadiness(run, s);
    if (input.dryRun) return r;
    const intent = { failoverId: input.id, from: r.from, to: r.to, mode: input.mode, startedAt: input.decidedAt };
    // The first hold covers the approval wait too; every later stage renews it.
    const ttlMs = run.lockTtlMs + (input.approvalPolicy.required > 0 ? input.approvalPolicy.timeoutMs : 0);
    await rec.step(s, 'acquire_lock', async () => {
      const st = await lockAndState.failoverAcquireLock({
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
  });
}

/** The readiness step: records sides, checks and plan in the run, and refuses a target that cannot take over. */
async function checkReadiness(
  run: StageRun,
  s: FailoverStage,
  step = 'readiness',
  to = run.input.to,
): Promise<FailoverReadiness> {
  const { input, rec } = run;
  const r = (await rec.step(s, step, async () => {
    const out = await lockAndState.failoverReadiness({
      group: input.group,
      failoverId: input.id,
      mode: input.mode,
      to,
    });
    const failing = out.checks.filter((c) => !c.ok).length;
    return {
      ...out,
      detail: `${out.from} (${out.fromRegion}) → ${out.to} (${out.toRegion}): ${failing} failing checks`,
    };
  }))!;
  Object.assign(rec.f, {
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
  return r;
}

/**
 * Stage 2: drain, then scale the source down (best effort in emergency mode). With `recheck` (an approval wait
 * lay between readiness and now) readiness, capacities and traffic are read again first, and the stages from
 * here on act on that fresh readiness, which this returns.
 */
export function sourcePreparation(
  run: StageRun,
  approved: FailoverReadiness,
  recheck = false,
): Promise<FailoverReadiness> {
  const { rec, emergency } = run;
  return rec.runStage('source_preparation', async (s) => {
    await renewLock(run, 'source_preparation');
    // The same direction as approved: a target that became active meanwhile fails `target_not_active`.
    const ready = recheck ? await checkReadiness(run, s, 'recheck_readiness', approved.to) : approved;
    const { from, capacity } = ready;
    undoDrain(run, ready);
    const drain = stepRequest(run, 'source_preparation', 'drain_traffic', from);
    await rec.step(s, 'drain_traffic', () => run.sourceSteps.failoverDrainTraffic(drain), emergency);
    const cap = capacity[from];
    if (cap) undoSourceScale(run, from, cap);
    const scale = {
      ...stepRequest(run, 'source_preparation', 'scale_source', from),
      capacity: { min: 0, max: cap?.max ?? 0, desired: 0 },
    };
    await rec.step(s, 'scale_source', () => run.sourceSteps.failoverScale(scale), emergency);
    return ready;
  });
}

/** Stage 3: fence the source database so it takes no more writes. Best effort in emergency mode. */
export function demotion(run: StageRun, { from }: FailoverReadiness): Promise<void> {
  const { rec, emergency } = run;
  return rec.runStage('demotion', async (s) => {
    undoFence(run, from);
    const fence = { ...stepRequest(run, 'demotion', 'fence_database', from), fenced: true };
    await rec.step(s, 'fence_database', () => run.sourceSteps.failoverFenceDatabase(fence), emergency);
  });
}

/** Stage 4: measure the lag (the RPO), then promote the target replica. */
export function promotion(run: StageRun, { from, to }: FailoverReadiness): Promise<void> {
  const { rec } = run;
  return rec.runStage('promotion', async (s) => {
    await renewLock(run, 'promotion');
    const lag = await rec.step(s, 'replication_lag', () =>
      requiredSteps.failoverReplicationLag(stepRequest(run, 'promotion', 'replication_lag', to)),
    );
    rec.f.rpoSeconds = lag?.lagSeconds;
    rec.f.rpoSource = lag?.source;
    undoPromotion(run, from, to);
    await rec.step(s, 'promote_replica', () =>
      replicaPromotion.failoverPromoteReplica(stepRequest(run, 'promotion', 'promote_replica', to)),
    );
  });
}

/** Stage 5: capacity first, then traffic, then proof that the target serves (the end of the RTO). */
export function targetActivation(
  run: StageRun,
  { from, to, capacity, targetCapacity }: FailoverReadiness,
): Promise<void> {
  const { input, rec } = run;
  return rec.runStage('target_activation', async (s) => {
    await renewLock(run, 'target_activation');
    const before = capacity[to];
    if (before) undoTargetScale(run, to, before);
    const scale = { ...stepRequest(run, 'target_activation', 'scale_target', to), capacity: targetCapacity };
    await rec.step(s, 'scale_target', () => requiredSteps.failoverScale(scale));
    undoSwitch(run, from);
    await rec.step(s, 'switch_traffic', () =>
      requiredSteps.failoverRouteTraffic(stepRequest(run, 'target_activation', 'switch_traffic', to)),
    );
    const timeoutMs = input.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    const verify = { ...stepRequest(run, 'target_activation', 'verify_health', to), timeoutMs };
    await rec.step(s, 'verify_health', () => healthVerification.failoverVerifyHealth(verify));
    rec.f.rtoSeconds = Math.round((Date.now() - Date.parse(input.decidedAt)) / 100) / 10;
  });
}

/** Stage 6: the new active side and epoch in global state; after it nothing is compensated. */
export function completion(run: StageRun, { from, to }: FailoverReadiness): Promise<void> {
  const { input, rec } = run;
  const f = rec.f;
  return rec.runStage('completion', async (s) => {
    // A run that lost its lock may have raced another failover of the group: it must not name a new active side.
    if (run.lockLost) throw lockLostFailure(run);
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
      const commit = { ...stepRequest(run, 'completion', 'commit', to), entry };
      const st = await whileHoldingLock(run, () => requiredSteps.failoverCommit(commit));
      f.epoch = st.epoch;
      return { detail: `${st.activeSide} active at epoch ${st.epoch}` };
    });
    rec.clearCompensations();
  });
}

/**
 * After an emergency failover failed past promotion the target database is the writer, whatever else failed:
 * global state must say so (the new epoch is the fencing token that shuts the old side out), together with
 * what a human still has to do. Nothing is compensated: the source is presumed gone.
 */
export async function recordPartialFailover(run: StageRun, { from, to }: FailoverReadiness): Promise<void> {
  const { input, rec } = run;
  const f = rec.f;
  const manualSteps = rec.unfinishedSteps();
  const entry = {
    failoverId: input.id,
    from,
    to,
    mode: input.mode,
    completedAt: rec.now(),
    rpoSeconds: f.rpoSeconds,
    incomplete: true,
  };
  const attention = { failoverId: input.id, at: rec.now(), manualSteps };
  try {
    const commit = { ...stepRequest(run, 'completion', 'commit', to), entry, attention };
    const st = await requiredSteps.failoverCommit(commit);
    f.epoch = st.epoch;
    rec.event('warn', `global state records ${to} active at epoch ${st.epoch}; ${manualSteps.length} steps left`);
  } catch (err) {
    manualSteps.unshift(
      `completion/commit: record ${to} as the active side (epoch + 1) in the global state by hand (the commit failed: ${errorOf(err).message})`,
    );
  }
  f.manualSteps = manualSteps;
}
