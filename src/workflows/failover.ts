/**
 * FailoverWorkflow: moves a failover group to its standby side in six recorded stages —
 * initialization → (approval) → source_preparation → demotion → promotion → target_activation → completion.
 * Planned mode undoes every step in reverse when a later one fails; emergency mode treats the source as
 * possibly gone (best effort, short timeouts) and never lets it block the promotion. RTO runs from the
 * decision to the target serving traffic; RPO is the replication lag observed just before promotion.
 */
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, setHandler, type ActivityOptions } from '@temporalio/workflow';
import type { FailoverActivities, StepRequest } from '../activities/cloud/failover-activities';
import { ApprovalGate } from './approval-gate';
import {
  FAILOVER_STAGES,
  failoverStatusQuery,
  isInjectedStep,
  type Failover,
  type FailoverInput,
  type FailoverSide,
  type FailoverStageName,
} from './failover.definitions';
import { errorOf, FailoverRecorder } from './failover-record';

const NON_RETRYABLE = ['FAILOVER_IN_PROGRESS', 'FAILOVER_NOT_READY', 'FAILOVER_GROUP_NOT_FOUND', 'CONFIG_INVALID'];

/** Lock, global state, readiness: quick calls, retried briefly. */
const control: ActivityOptions = { startToCloseTimeout: '1m', retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE } };
/** A step that must succeed (target side; source side in planned mode), else the saga compensates. */
const mustStep: ActivityOptions = { startToCloseTimeout: '5m', retry: { maximumAttempts: 5, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE } };
/** Emergency source steps: the region may be down, so fail fast and move on. */
const bestEffort: ActivityOptions = { startToCloseTimeout: '10s', retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE } };
/** Promotion takes minutes on RDS: heartbeats let a dead worker's attempt be retried within 10 s, and the retry never promotes twice. */
const promotion: ActivityOptions = { startToCloseTimeout: '1h', heartbeatTimeout: '10s', retry: { maximumAttempts: 10, initialInterval: '2s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE } };
/** Health verification polls inside the activity for up to `healthTimeoutMs`. */
const verify: ActivityOptions = { startToCloseTimeout: '1h', heartbeatTimeout: '30s', retry: { maximumAttempts: 2, nonRetryableErrorTypes: NON_RETRYABLE } };
/** Compensations put the source back: retried hard, recorded whatever happens. */
const undo: ActivityOptions = { startToCloseTimeout: '5m', retry: { maximumAttempts: 8, initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE } };

const ctl = proxyActivities<FailoverActivities>(control);
const must = proxyActivities<FailoverActivities>(mustStep);
const soft = proxyActivities<FailoverActivities>(bestEffort);
const promote = proxyActivities<FailoverActivities>(promotion);
const verifying = proxyActivities<FailoverActivities>(verify);
const comp = proxyActivities<FailoverActivities>(undo);

const DEFAULT_LOCK_TTL_MS = 15 * 60_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 5 * 60_000;

/** Runs one failover to its end and returns the final `Failover` (never throws for a business failure). */
export async function failoverWorkflow(input: FailoverInput): Promise<Failover> {
  const created = new Date().toISOString();
  const f: Failover = {
    id: input.id,
    group: input.group,
    mode: input.mode,
    dryRun: input.dryRun,
    status: 'running',
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    reason: input.reason,
    decidedAt: input.decidedAt,
    createdAt: created,
    updatedAt: created,
    stages: FAILOVER_STAGES.map((name) => ({ name, status: 'pending', steps: [] })),
    readiness: [],
    plan: [],
    compensations: [],
    approvals: [],
    approvalsRequired: input.dryRun ? 0 : input.approvalPolicy.required,
    events: [],
  };
  const rec = new FailoverRecorder(f);
  setHandler(failoverStatusQuery, () => f);
  const gate = new ApprovalGate({
    requestedBy: input.requestedBy,
    onChange: () => {
      const v = gate.view();
      f.approvals = v.approvals;
      f.rejection = v.rejection;
      f.approvalExpiresAt = v.expiresAt;
      f.updatedAt = rec.now();
    },
    log: (level, message) => rec.event(level, message),
  });
  gate.install();
  rec.setStatus('running', `${input.mode}${input.dryRun ? ' dry-run' : ''} failover of ${input.group} requested by ${input.requestedBy}${input.reason ? `: ${input.reason}` : ''}`);

  const emergency = input.mode === 'emergency';
  const lockTtlMs = input.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  let lockTaken = false;
  const req = (stage: FailoverStageName, step: string, side: FailoverSide): StepRequest => ({
    group: input.group,
    failoverId: input.id,
    stage,
    step,
    side,
    injectFailure: isInjectedStep(input.injectFailure, stage, step) || undefined,
  });
  const renewLock = (stage: FailoverStageName) => ctl.failoverAcquireLock({ group: input.group, failoverId: input.id, ttlMs: lockTtlMs, stage });
  const finish = (status: Failover['status'], message?: string) => {
    f.completedAt = rec.now();
    rec.setStatus(status, message);
    for (const s of f.stages) if (s.status === 'pending') s.status = 'skipped';
    return f;
  };

  try {
    // Stage 1 — initialization: readiness of the target, the global lock, the intent in global state.
    const ready = await rec.runStage('initialization', async (s) => {
      const r = (await rec.step(s, 'readiness', async () => {
        const out = await ctl.failoverReadiness({ group: input.group, failoverId: input.id, mode: input.mode, to: input.to });
        return { ...out, detail: `${out.from} (${out.fromRegion}) → ${out.to} (${out.toRegion}): ${out.checks.filter((c) => !c.ok).length} failing checks` };
      }))!;
      Object.assign(f, { from: r.from, to: r.to, fromRegion: r.fromRegion, toRegion: r.toRegion, readiness: r.checks, plan: r.plan });
      const failing = r.checks.filter((c) => !c.ok);
      if (failing.length > 0) {
        // A held lock alone is "in progress" (the API's 409), not "not ready"; the lock itself decides below.
        const inProgress = failing.every((c) => c.name === 'global_lock_free');
        const message = `${inProgress ? 'another failover is in progress' : 'not ready'}: ${failing.map((c) => `${c.name}${c.detail ? ` (${c.detail})` : ''}`).join('; ')}`;
        throw ApplicationFailure.create({ type: inProgress ? 'FAILOVER_IN_PROGRESS' : 'FAILOVER_NOT_READY', message, nonRetryable: true });
      }
      if (input.dryRun) return r;
      lockTaken = true; // set before the call: releasing a lock we never got is a harmless no-op
      const intent = { failoverId: input.id, from: r.from, to: r.to, mode: input.mode, startedAt: input.decidedAt };
      // The first hold covers the approval wait too; every later stage renews it.
      const ttlMs = lockTtlMs + (input.approvalPolicy.required > 0 ? input.approvalPolicy.timeoutMs : 0);
      await rec.step(s, 'acquire_lock', async () => {
        const st = await ctl.failoverAcquireLock({ group: input.group, failoverId: input.id, ttlMs, intent, stage: 'initialization', injectFailure: isInjectedStep(input.injectFailure, 'initialization', 'acquire_lock') || undefined });
        return { detail: `lock held until ${st.lock?.expiresAt}; active ${st.activeSide} at epoch ${st.epoch}` };
      });
      return r;
    });
    const from = ready.from;
    const to = ready.to;

    if (input.dryRun) {
      for (const a of ready.plan) rec.event('info', `plan: [${a.stage}] ${a.description}`);
      return finish('planned', `dry run: ${ready.plan.length} actions planned, nothing changed`);
    }

    // Approval per the group's policy, before anything changes.
    if (input.approvalPolicy.required > 0) rec.setStatus('awaiting_approval', `waiting for ${input.approvalPolicy.required} approval(s)`);
    const outcome = await gate.waitForDecision(input.approvalPolicy, undefined);
    if (outcome === 'rejected') return finish('rejected', `rejected by ${f.rejection?.by}${f.rejection?.reason ? `: ${f.rejection.reason}` : ''}`);
    if (outcome === 'expired') {
      f.error = { code: 'APPROVAL_EXPIRED', message: 'no decision before the approval timeout' };
      return finish('expired');
    }
    if (f.status === 'awaiting_approval') rec.setStatus('running');

    // Stage 2 — source preparation: drain, then scale the source down. Best effort in emergency mode.
    const src = emergency ? soft : must;
    await rec.runStage('source_preparation', async (s) => {
      await renewLock('source_preparation');
      rec.compensate('source_preparation', 'restore_traffic', () => comp.failoverRouteTraffic(req('source_preparation', 'restore_traffic', from)));
      await rec.step(s, 'drain_traffic', () => src.failoverDrainTraffic(req('source_preparation', 'drain_traffic', from)), emergency);
      const cap = ready.capacity[from];
      if (cap) rec.compensate('source_preparation', 'restore_source_capacity', () => comp.failoverScale({ ...req('source_preparation', 'restore_source_capacity', from), capacity: cap }));
      await rec.step(s, 'scale_source', () => src.failoverScale({ ...req('source_preparation', 'scale_source', from), capacity: { min: 0, max: cap?.max ?? 0, desired: 0 } }), emergency);
    });

    // Stage 3 — demotion: fence the source database so it takes no more writes.
    await rec.runStage('demotion', async (s) => {
      rec.compensate('demotion', 'unfence_source_database', () => comp.failoverFenceDatabase({ ...req('demotion', 'unfence_source_database', from), fenced: false }));
      await rec.step(s, 'fence_database', () => src.failoverFenceDatabase({ ...req('demotion', 'fence_database', from), fenced: true }), emergency);
    });

    // Stage 4 — promotion: measure the lag (the RPO), then promote the target replica.
    await rec.runStage('promotion', async (s) => {
      await renewLock('promotion');
      const lag = await rec.step(s, 'replication_lag', () => must.failoverReplicationLag(req('promotion', 'replication_lag', to)));
      f.rpoSeconds = lag?.lagSeconds;
      f.rpoSource = lag?.source;
      rec.compensate('promotion', 'reattach_replica', () => comp.failoverReattachReplica({ ...req('promotion', 'reattach_replica', to), source: from }));
      await rec.step(s, 'promote_replica', () => promote.failoverPromoteReplica(req('promotion', 'promote_replica', to)));
    });

    // Stage 5 — target activation: capacity first, then traffic, then proof that the target serves.
    await rec.runStage('target_activation', async (s) => {
      await renewLock('target_activation');
      const before = ready.capacity[to];
      if (before) rec.compensate('target_activation', 'restore_target_capacity', () => comp.failoverScale({ ...req('target_activation', 'restore_target_capacity', to), capacity: before }));
      await rec.step(s, 'scale_target', () => must.failoverScale({ ...req('target_activation', 'scale_target', to), capacity: ready.targetCapacity }));
      rec.compensate('target_activation', 'route_traffic_back', () => comp.failoverRouteTraffic(req('target_activation', 'route_traffic_back', from)));
      await rec.step(s, 'switch_traffic', () => must.failoverRouteTraffic(req('target_activation', 'switch_traffic', to)));
      await rec.step(s, 'verify_health', () => verifying.failoverVerifyHealth({ ...req('target_activation', 'verify_health', to), timeoutMs: input.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS }));
      f.rtoSeconds = Math.round((Date.now() - Date.parse(input.decidedAt)) / 100) / 10;
    });

    // Stage 6 — completion: the new active side and epoch in global state; the lock goes in `finally`.
    await rec.runStage('completion', async (s) => {
      await rec.step(s, 'commit', async () => {
        const st = await must.failoverCommit({
          ...req('completion', 'commit', to),
          entry: { failoverId: input.id, from, to, mode: input.mode, completedAt: rec.now(), rtoSeconds: f.rtoSeconds, rpoSeconds: f.rpoSeconds },
        });
        f.epoch = st.epoch;
        return { detail: `${st.activeSide} active at epoch ${st.epoch}` };
      });
      rec.clearCompensations();
    });
    return finish('succeeded', `${to} (${f.toRegion}) is active: RTO ${f.rtoSeconds}s, RPO ${f.rpoSeconds ?? 'unknown'}s`);
  } catch (err) {
    const cancelled = isCancellation(err);
    f.error = errorOf(err);
    rec.event('error', `${f.error.code}: ${f.error.message}`);
    if (emergency) {
      rec.event('warn', 'emergency mode: no compensation (the source is presumed unavailable); check the stages for what changed');
      return finish(cancelled ? 'cancelled' : 'failed');
    }
    if (rec.pendingCompensations === 0) return finish(cancelled ? 'cancelled' : 'failed', 'nothing had changed: no compensation needed');
    rec.setStatus('compensating', `undoing ${rec.pendingCompensations} steps in reverse`);
    const done = await rec.runCompensations();
    const failed = done.filter((c) => c.status === 'failed').length;
    if (cancelled) return finish('cancelled', `cancelled; ${done.length} compensations run, ${failed} failed`);
    return finish(failed === 0 ? 'rolled_back' : 'failed', `${done.length} compensations run, ${failed} failed`);
  } finally {
    if (lockTaken) {
      await CancellationScope.nonCancellable(async () => {
        try {
          const released = await ctl.failoverReleaseLock({ group: input.group, failoverId: input.id });
          rec.event('info', released ? 'global lock released' : 'global lock was not held');
        } catch (err) {
          // The lock expires on its own (lockTtlMs); report it rather than fail a finished failover.
          rec.event('error', `could not release the global lock: ${errorOf(err).message}`);
        }
      });
    }
  }
}
