/**
 * The six stages of a FailoverWorkflow, one function each over the run's `StageRun`: which activity each step
 * calls, with which timeout profile, and which compensation it registers BEFORE it runs. The orchestration
 * (approval, failure handling, the lock release) stays in failover.ts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Capacity } from '../activities/cloud/failover-cloud';
import type { FailoverActivities, FailoverReadiness, StepRequest } from '../activities/cloud/failover-activities';
import {
  isInjectedStep,
  type FailoverInput,
  type FailoverSide,
  type FailoverStage,
  type FailoverStageName,
} from '../contracts/failover';
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
const promotionWait: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 10, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Health verification polls inside the activity for up to `healthTimeoutMs`. */
const healthWait: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 2, nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Compensations put the source back: retried hard, recorded whatever happens. */
const undo: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 8, initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE },
};

const lockAndState = proxyActivities<FailoverActivities>(control);
const requiredSteps = proxyActivities<FailoverActivities>(mustStep);
const bestEffortSteps = proxyActivities<FailoverActivities>(bestEffort);
const replicaPromotion = proxyActivities<FailoverActivities>(promotionWait);
const healthVerification = proxyActivities<FailoverActivities>(healthWait);
const compensations = proxyActivities<FailoverActivities>(undo);

/** patched() ids: wire names, never change or reuse. */
/** Compensations run phase by phase (the source serves again before traffic returns) and restore captured traffic. */
const PATCH_UNDO_BY_PHASE = 'failover-undo-by-phase';
/** The global lock is renewed while the run holds it, and a lost lock stops the run from changing anything. */
const PATCH_LOCK_RENEWAL = 'failover-lock-renewal';

const DEFAULT_LOCK_TTL_MS = 15 * 60_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 5 * 60_000;

/** What the stage functions of one run share. */
export interface StageRun {
  input: FailoverInput;
  rec: FailoverRecorder;
  emergency: boolean;
  lockTtlMs: number;
  /** Source-side steps: required in planned mode, best effort (fail fast, go on) in emergency mode. */
  sourceSteps: FailoverActivities;
  /** Decided once, at the first compensation registered: how this run registers and runs its compensations. */
  undoByPhase?: boolean;
  /** True while keepLockRenewed's loop renews the lock; only such a run can tell that it lost the lock. */
  renewing?: boolean;
  /** Set once the run learns that its lock expired or passed to someone else: from then on it changes nothing. */
  lockLost?: { message: string; at: string };
}

/** The shared context of one run's stages. */
export function stageRun(input: FailoverInput, rec: FailoverRecorder): StageRun {
  const emergency = input.mode === 'emergency';
  return {
    input,
    rec,
    emergency,
    lockTtlMs: input.lockTtlMs ?? DEFAULT_LOCK_TTL_MS,
    sourceSteps: emergency ? bestEffortSteps : requiredSteps,
  };
}

function stepRequest(run: StageRun, stage: FailoverStageName, step: string, side: FailoverSide): StepRequest {
  return {
    group: run.input.group,
    failoverId: run.input.id,
    stage,
    step,
    side,
    injectFailure: isInjectedStep(run.input.injectFailure, stage, step) || undefined,
  };
}

function renewLock(run: StageRun, stage: FailoverStageName) {
  const { group, id } = run.input;
  return whileHoldingLock(run, () =>
    lockAndState.failoverAcquireLock({ group, failoverId: id, ttlMs: run.lockTtlMs, stage }),
  );
}

function lockLostFailure(run: StageRun): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'FAILOVER_LOCK_LOST',
    message: `global lock lost: ${run.lockLost?.message}`,
    nonRetryable: true,
  });
}

function markLockLost(run: StageRun, message: string): void {
  if (run.lockLost) return;
  run.lockLost = { message, at: run.rec.now() };
  run.rec.event('error', `global lock lost: ${message}; the run changes nothing more`);
}

/** A call that needs the lock: refused once the lock is lost; a refusal because it is gone marks it lost. */
async function whileHoldingLock<T>(run: StageRun, fn: () => Promise<T>): Promise<T> {
  if (run.lockLost) throw lockLostFailure(run);
  try {
    return await fn();
  } catch (err) {
    const { code, message } = errorOf(err);
    if (!run.renewing || (code !== 'FAILOVER_IN_PROGRESS' && code !== 'FAILOVER_LOCK_LOST')) throw err;
    markLockLost(run, message);
    throw lockLostFailure(run);
  }
}

/**
 * Renews the global lock every third of its TTL while the run holds it, whatever runs meanwhile (a promotion
 * or a health wait may take an hour, an approval longer). Stops when the lock is lost; stop() ends it.
 */
export function keepLockRenewed(run: StageRun): { stop(): void } | undefined {
  if (!patched(PATCH_LOCK_RENEWAL)) return undefined;
  run.renewing = true;
  let renewal: CancellationScope | undefined;
  // Shielded from the run's own cancellation: compensations after a cancel still need the lock held.
  const loop = CancellationScope.nonCancellable(() => {
    renewal = new CancellationScope();
    return renewal.run(() => renewEvery(run, Math.max(1000, Math.floor(run.lockTtlMs / 3))));
  });
  void loop.catch(() => undefined); // stop() cancels the pending timer: that is its normal end
  return { stop: () => renewal?.cancel() };
}

async function renewEvery(run: StageRun, everyMs: number): Promise<void> {
  const { input, rec } = run;
  while (!run.lockLost) {
    await sleep(everyMs);
    const stage = rec.f.stages.find((x) => x.status === 'running')?.name ?? 'initialization';
    try {
      const renew = { group: input.group, failoverId: input.id, ttlMs: run.lockTtlMs, stage };
      await whileHoldingLock(run, () => lockAndState.failoverAcquireLock(renew));
    } catch (err) {
      if (isCancellation(err) || run.lockLost) return;
      // The state store may be briefly unreachable: the lock still runs for most of its TTL, try again.
      rec.event('warn', `could not renew the global lock (next try in ${everyMs} ms): ${errorOf(err).message}`);
    }
  }
}

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

/** Releases the global lock if this run holds it; a failure is reported, the lock expires on its own. */
export async function releaseLock({ input, rec }: StageRun): Promise<void> {
  try {
    const released = await lockAndState.failoverReleaseLock({ group: input.group, failoverId: input.id });
    rec.event('info', released ? 'global lock released' : 'global lock was not held');
  } catch (err) {
    rec.event('error', `could not release the global lock: ${errorOf(err).message}`);
  }
}

// Compensations: each is registered right before the step it undoes, so a step that failed half-way is undone too.
// They run phase by phase (see UndoPhase): the source can serve again before traffic returns to it.

function phasedUndo(run: StageRun): boolean {
  return (run.undoByPhase ??= patched(PATCH_UNDO_BY_PHASE));
}

/** One compensation puts traffic back as readiness found it; it covers the switch to the target as well. */
function undoDrain(run: StageRun, { from, trafficBefore }: FailoverReadiness): void {
  const req = () => stepRequest(run, 'source_preparation', 'restore_traffic', from);
  if (!phasedUndo(run)) {
    run.rec.compensate('source_preparation', 'restore_traffic', () => compensations.failoverRouteTraffic(req()));
    return;
  }
  run.rec.compensate(
    'source_preparation',
    'restore_traffic',
    () =>
      trafficBefore
        ? compensations.failoverRestoreTraffic({ ...req(), snapshot: trafficBefore })
        : compensations.failoverRouteTraffic(req()),
    'traffic',
  );
}

function undoSourceScale(run: StageRun, from: FailoverSide, capacity: Capacity): void {
  run.rec.compensate(
    'source_preparation',
    'restore_source_capacity',
    () =>
      compensations.failoverScale({
        ...stepRequest(run, 'source_preparation', 'restore_source_capacity', from),
        capacity,
      }),
    'before_traffic',
  );
}

function undoFence(run: StageRun, from: FailoverSide): void {
  run.rec.compensate(
    'demotion',
    'unfence_source_database',
    () =>
      compensations.failoverFenceDatabase({
        ...stepRequest(run, 'demotion', 'unfence_source_database', from),
        fenced: false,
      }),
    'before_traffic',
  );
}

function undoPromotion(run: StageRun, from: FailoverSide, to: FailoverSide): void {
  run.rec.compensate(
    'promotion',
    'reattach_replica',
    () =>
      compensations.failoverReattachReplica({
        ...stepRequest(run, 'promotion', 'reattach_replica', to),
        source: from,
      }),
    'before_traffic',
  );
}

function undoTargetScale(run: StageRun, to: FailoverSide, capacity: Capacity): void {
  run.rec.compensate(
    'target_activation',
    'restore_target_capacity',
    () =>
      compensations.failoverScale({
        ...stepRequest(run, 'target_activation', 'restore_target_capacity', to),
        capacity,
      }),
    'after_traffic',
  );
}

function undoSwitch(run: StageRun, from: FailoverSide): void {
  if (phasedUndo(run)) return; // restore_traffic (registered with the drain) puts traffic back
  run.rec.compensate('target_activation', 'route_traffic_back', () =>
    compensations.failoverRouteTraffic(stepRequest(run, 'target_activation', 'route_traffic_back', from)),
  );
}
