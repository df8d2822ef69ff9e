/**
 * FailoverWorkflow: moves a failover group to its standby side in six recorded stages —
 * initialization → (approval) → source_preparation → demotion → promotion → target_activation → completion.
 * Planned mode undoes every step when a later one fails (the source is made to serve again before traffic
 * returns to it); emergency mode treats the source as possibly gone (best effort, short timeouts), never lets
 * it block the promotion, and says what is left when it fails after promoting. RTO runs from the
 * decision to the target serving traffic; RPO is the replication lag observed just before promotion.
 * The stages themselves are in failover-stages.ts, their compensations in failover-compensations.ts.
 */
import { CancellationScope, isCancellation, patched, setHandler } from '@temporalio/workflow';
import { ApprovalGate } from './approval-gate';
import type { FailoverReadiness } from '../activities/cloud/failover-activities';
import { FAILOVER_STAGES, failoverStatusQuery, type Failover, type FailoverInput } from '../contracts/failover';
import { errorOf, FailoverRecorder } from './failover-record';
import { keepLockRenewed, releaseLock } from './failover-lock';
import { stageRun, type StageRun } from './failover-run';
import {
  completion,
  demotion,
  initialization,
  promotion,
  recordPartialFailover,
  sourcePreparation,
  targetActivation,
} from './failover-stages';

/** patched() ids: wire names, never change or reuse. */
/** An emergency failover that fails after promotion records the promoted target in global state. */
const PATCH_EMERGENCY_PARTIAL = 'failover-emergency-records-partial';
/** Readiness, capacities and traffic are read again after an approval wait, before anything changes. */
const PATCH_RECHECK_AFTER_APPROVAL = 'failover-recheck-after-approval';

function newFailover(input: FailoverInput): Failover {
  const now = new Date().toISOString();
  return {
    id: input.id,
    group: input.group,
    mode: input.mode,
    dryRun: input.dryRun,
    status: 'running',
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    reason: input.reason,
    decidedAt: input.decidedAt,
    createdAt: now,
    updatedAt: now,
    stages: FAILOVER_STAGES.map((name) => ({ name, status: 'pending', steps: [] })),
    readiness: [],
    plan: [],
    compensations: [],
    approvals: [],
    approvalsRequired: input.dryRun ? 0 : input.approvalPolicy.required,
    events: [],
  };
}

/** Ends the run: the final status, its completion time, and every stage never reached marked skipped. */
function finish(rec: FailoverRecorder, status: Failover['status'], message?: string): Failover {
  rec.f.completedAt = rec.now();
  rec.setStatus(status, message);
  for (const s of rec.f.stages) if (s.status === 'pending') s.status = 'skipped';
  return rec.f;
}

/** Runs one failover to its end and returns the final `Failover` (never throws for a business failure). */
export async function failoverWorkflow(input: FailoverInput): Promise<Failover> {
  const f = newFailover(input);
  const rec = new FailoverRecorder(f);
  setHandler(failoverStatusQuery, () => f);
  const gate = new ApprovalGate({
    requestedBy: input.requestedBy,
    onChange: () => {
      const v = gate.view();
      f.approvals = v.approvals;
      f.rejection = v.rejection;
      f.refusedDecisions = v.refused;
      f.approvalExpiresAt = v.expiresAt;
      f.updatedAt = rec.now();
    },
    log: (level, message) => rec.event(level, message),
  });
  gate.install();
  const by = `${input.requestedBy}${input.reason ? `: ${input.reason}` : ''}`;
  rec.setStatus(
    'running',
    `${input.mode}${input.dryRun ? ' dry-run' : ''} failover of ${input.group} requested by ${by}`,
  );

  const run = stageRun(input, rec);
  // Set before stage 1 tries to take it: releasing a lock this run never got is a harmless no-op.
  const holdsLock = !input.dryRun;
  let ready: FailoverReadiness | undefined;
  let renewal: { stop(): void } | undefined;

  try {
    ready = await initialization(run);
    if (input.dryRun) {
      for (const a of ready.plan) rec.event('info', `plan: [${a.stage}] ${a.description}`);
      return finish(rec, 'planned', `dry run: ${ready.plan.length} actions planned, nothing changed`);
    }
    renewal = keepLockRenewed(run);

    // Approval per the group's policy, before anything changes.
    const required = input.approvalPolicy.required;
    if (required > 0) rec.setStatus('awaiting_approval', `waiting for ${required} approval(s)`);
    const outcome = await gate.waitForDecision(input.approvalPolicy, undefined);
    if (outcome === 'rejected') {
      const why = f.rejection?.reason ? `: ${f.rejection.reason}` : '';
      return finish(rec, 'rejected', `rejected by ${f.rejection?.by}${why}`);
    }
    if (outcome === 'expired') {
      f.error = { code: 'APPROVAL_EXPIRED', message: 'no decision before the approval timeout' };
      return finish(rec, 'expired');
    }
    if (f.status === 'awaiting_approval') rec.setStatus('running');

    // What the approvers saw may be an hour old: act on the world as it is now.
    const recheck = required > 0 && patched(PATCH_RECHECK_AFTER_APPROVAL);
    ready = await sourcePreparation(run, ready, recheck);
    await demotion(run, ready);
    await promotion(run, ready);
    await targetActivation(run, ready);
    await completion(run, ready);
    const rpo = f.rpoSeconds ?? 'unknown';
    return finish(rec, 'succeeded', `${ready.to} (${f.toRegion}) is active: RTO ${f.rtoSeconds}s, RPO ${rpo}s`);
  } catch (err) {
    f.error = errorOf(err);
    rec.event('error', `${f.error.code}: ${f.error.message}`);
    const cancelled = isCancellation(err);
    if (run.lockLost) return endWithoutLock(run);
    if (input.mode === 'emergency') return await endEmergency(run, ready, cancelled);
    return await endCompensated(run, cancelled);
  } finally {
    renewal?.stop();
    if (holdsLock) await CancellationScope.nonCancellable(() => releaseLock(run));
  }
}

/** Lost the lock: another run may be changing the group, so nothing is undone and what is left is listed. */
function endWithoutLock(run: StageRun): Failover {
  const { input, rec } = run;
  const f = rec.f;
  f.manualSteps = [
    `initialization/acquire_lock: the global lock was lost while this run held it (${run.lockLost?.message}); find out who else changes ${input.group} before acting`,
    ...rec.pendingUndo(run.undoByPhase === true).map((c) => `${c.stage}/${c.name}: not undone (the lock was lost)`),
  ];
  rec.clearCompensations();
  return finish(rec, 'needs_attention', `the global lock was lost: ${f.manualSteps.length} steps left to a human`);
}

/** Emergency mode compensates nothing (the source is presumed gone); past promotion the new writer is recorded. */
async function endEmergency(run: StageRun, ready: FailoverReadiness | undefined, cancelled: boolean) {
  const { rec } = run;
  rec.event(
    'warn',
    'emergency mode: no compensation (the source is presumed unavailable); see the stages for what changed',
  );
  if (ready && rec.stepSucceeded('promotion', 'promote_replica') && patched(PATCH_EMERGENCY_PARTIAL)) {
    await CancellationScope.nonCancellable(() => recordPartialFailover(run, ready));
    const left = rec.f.manualSteps?.length;
    return finish(
      rec,
      'needs_attention',
      `${ready.to} was promoted but the failover did not finish: ${left} steps left to do by hand`,
    );
  }
  return finish(rec, cancelled ? 'cancelled' : 'failed');
}

/** Planned mode undoes what changed; a compensation only a human can do (or that failed) is listed, never hidden. */
async function endCompensated(run: StageRun, cancelled: boolean): Promise<Failover> {
  const { rec } = run;
  if (rec.pendingCompensations === 0) {
    return finish(rec, cancelled ? 'cancelled' : 'failed', 'nothing had changed: no compensation needed');
  }
  rec.setStatus('compensating', `undoing ${rec.pendingCompensations} steps`);
  const done = await rec.runCompensations(run.undoByPhase === true);
  const failed = done.filter((c) => c.status === 'failed').length;
  // RDS cannot demote a promoted replica: reattach_replica comes back 'manual', which is no clean rollback.
  const manual = done.filter((c) => c.status !== 'succeeded');
  if (manual.length > 0) {
    rec.f.manualSteps = manual.map((c) =>
      c.status === 'manual'
        ? `${c.stage}/${c.name}: ${c.detail}`
        : `${c.stage}/${c.name}: failed (${c.error?.message}); undo it by hand`,
    );
  }
  const human = manual.length > failed ? `, ${manual.length - failed} left to a human` : '';
  const summary = `${done.length} compensations run, ${failed} failed${human}`;
  if (cancelled) return finish(rec, 'cancelled', `cancelled; ${summary}`);
  return finish(rec, failed === 0 ? 'rolled_back' : 'failed', summary);
}
