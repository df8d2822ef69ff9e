/**
 * The steps of a stack change, in runbook order: plan, await approval, apply and record (with verification),
 * automatic rollback, finish. stack-change.ts strings them together; each step works on one `StackChangeRun`.
 */
import { CancellationScope, isCancellation, patched, setHandler } from '@temporalio/workflow';
import type { StateVersionSummary } from '../activities/iac';
import type { ConfigSnapshot, PlanSummary } from '../contracts/iac';
import {
  statusQuery,
  type Deployment,
  type DeploymentInput,
  type DeploymentStatus,
  type PlanView,
  type Risk,
  type RunKind,
} from '../contracts/runs';
import type { ApprovalGate, ApprovalOutcome } from './approval-gate';
import { failureOf, isInterruption } from './failure';
import { installApprovalGate, RunRecorder } from './run-recorder';
import { applying, notifications, planning, stores, verifying } from './stack-change-activities';

/** patched() ids: wire names, never change or reuse. */
const PATCH_STATUS_MEMO = 'status-memo';
const PATCH_APPROVAL_NOTIFY = 'approval-notify';
const PATCH_INTERRUPTION_NO_ROLLBACK = 'interruption-no-rollback';
const PATCH_ROLLBACK_TO_EMPTY = 'rollback-to-empty';
const PATCH_APPROVAL_GATE_FIRST = 'approval-gate-first';

/** One run in progress: its input, the document the status query returns, and the recorder that owns it. */
export interface StackChangeRun {
  input: DeploymentInput;
  d: Deployment;
  rec: RunRecorder<DeploymentStatus, Deployment>;
  gate: ApprovalGate;
  /** What every IaC activity of this run gets. */
  target: { runId: string; stack: string; environment: string; variables: Record<string, unknown> };
}

/** A saved plan and the configuration snapshot it was made from. */
export interface PlannedChange {
  config: ConfigSnapshot;
  plan: PlanSummary;
}

/**
 * True when the run is being cancelled: either the error is the cancellation itself, or an activity that was
 * asked to stop reported how it stopped (e.g. APPLY_INTERRUPTED, with what it left behind).
 */
export function cancelledBy(err: unknown): boolean {
  return isCancellation(err) || CancellationScope.current().consideredCancelled;
}

export function riskOf(kind: RunKind, p: PlanSummary, gated: boolean): Risk {
  if (kind === 'destroy') return 'high';
  const destructive = p.resources.some((r) => r.action === 'delete' || r.action === 'replace');
  if (destructive && gated) return 'high';
  if (destructive || p.change > 0) return 'medium';
  return 'low';
}

function planView(p: PlanSummary, risk: Risk): PlanView {
  return {
    add: p.add,
    change: p.change,
    destroy: p.destroy,
    planHash: p.planHash,
    risk,
    resources: p.resources.map((r) => ({ address: r.address, type: r.type, action: r.action })),
    notes: p.notes,
  };
}

function newDeployment(input: DeploymentInput, now: string): Deployment {
  return {
    id: input.id,
    kind: input.kind,
    stack: input.stack,
    environment: input.environment,
    status: input.dryRun ? 'planning' : 'queued',
    requestedBy: input.requestedBy,
    dryRun: input.dryRun,
    reason: input.reason,
    targetVersion: input.targetVersion,
    createdAt: input.createdAt,
    updatedAt: now,
    approvals: [],
    approvalsRequired: input.approvalPolicy.required,
    resources: [],
    outputs: {},
    events: [],
  };
}

const planText = (d: Deployment) => (d.plan ? `+${d.plan.add} ~${d.plan.change} -${d.plan.destroy}` : undefined);

/** Sets up the run document, its status publication, the approval gate and the status query. */
export function startRun(input: DeploymentInput): StackChangeRun {
  const d = newDeployment(input, new Date().toISOString());
  const rec = new RunRecorder<DeploymentStatus, Deployment>(d, {
    memo: {
      patchId: PATCH_STATUS_MEMO,
      of: (doc) => ({ status: doc.status, ...(doc.plan ? { plan: planText(doc) } : {}) }),
    },
    details: (doc) =>
      `**${doc.kind} ${doc.stack} → ${doc.environment}**: ${doc.status}` +
      (doc.plan ? ` · plan ${planText(doc)} (${doc.plan.risk})` : '') +
      (doc.status === 'awaiting_approval' ? ` · approvals ${doc.approvals.length}/${doc.approvalsRequired}` : '') +
      (doc.error ? ` · ${doc.error.code}` : ''),
  });
  const gate = installApprovalGate(input.requestedBy, d, rec);
  setHandler(statusQuery, () => d);
  rec.publish();
  const target = { runId: input.id, stack: input.stack, environment: input.environment, variables: input.variables };
  return { input, d, rec, gate, target };
}

/** Ends the run with `status` (terminal) and returns its document. */
export function finish(run: StackChangeRun, status: DeploymentStatus, message?: string): Deployment {
  run.rec.setStatus(status, message);
  run.d.completedAt = run.rec.now();
  return run.d;
}

/** Ends a drift remediation whose stack moved on while it waited for the lock: reverting now would undo a newer version. */
export function closeSuperseded(run: StackChangeRun, current: StateVersionSummary | undefined): Deployment {
  const expected = run.input.expectedCurrentVersion;
  const now = current ? `version ${current.version} is current` : 'the stack has no version any more';
  run.rec.event(
    'warn',
    `the drift was found in version ${expected}, but ${now}: not reverting it; scan again to check the new version`,
  );
  return finish(run, 'no_changes', `remediation of version ${expected} skipped: the stack moved on since the scan`);
}

/** planning: snapshot the configuration (a rollback's target version, else the stack's), save a plan, rate its risk. */
export async function planChange(run: StackChangeRun): Promise<PlannedChange> {
  const { input, d, rec, target } = run;
  rec.setStatus('planning');
  const fromVersion = input.kind === 'rollback' ? input.targetVersion : undefined;
  const config = await planning.prepareRun({ ...target, fromVersion });
  const plan = await planning.planRun({ ...target, config, destroy: input.kind === 'destroy' });
  const risk = riskOf(input.kind, plan, input.approvalPolicy.required > 0);
  d.plan = planView(plan, risk);
  d.resources = plan.resources.map((r) => ({ address: r.address, type: r.type, action: r.action, status: 'planned' }));
  for (const n of plan.notes ?? []) rec.event('warn', n);
  rec.event(
    'info',
    `plan: ${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy (risk ${risk}, hash ${plan.planHash.slice(0, 12)})`,
  );
  return { config, plan };
}

/**
 * awaiting_approval: open the gate for exactly this plan hash, tell the approvers, wait for the decision. The
 * gate opens in the same workflow task that publishes awaiting_approval, and the notification runs beside the
 * wait: an approval that arrives while Slack is slow (30 s × 3 attempts) is taken, not refused.
 */
export async function awaitApproval(run: StackChangeRun, plan: PlanSummary): Promise<ApprovalOutcome> {
  const { input, rec, gate } = run;
  const required = input.approvalPolicy.required;
  if (required > 0 && patched(PATCH_APPROVAL_GATE_FIRST)) {
    gate.open(input.approvalPolicy, plan.planHash);
    rec.setStatus('awaiting_approval', `waiting for ${required} approval(s)`);
    // Not awaited: the run's own cancellation reaches it through the decision, so its end is of no interest here.
    void notifyApprovers(run).catch(() => undefined);
    return gate.decision();
  }
  // Runs recorded before the gate opened first: status, then the notification awaited, then the gate.
  rec.setStatus('awaiting_approval', required > 0 ? `waiting for ${required} approval(s)` : undefined);
  if (required > 0 && patched(PATCH_APPROVAL_NOTIFY)) await notifyApprovers(run);
  return gate.waitForDecision(input.approvalPolicy, plan.planHash);
}

/** Best effort: tell the approvers (Slack buttons); a notification failure never holds up the run. */
async function notifyApprovers(run: StackChangeRun): Promise<void> {
  const { input, d, rec } = run;
  try {
    const sent = await notifications.notifyApprovalNeeded({
      runId: input.id,
      kind: input.kind,
      stack: input.stack,
      environment: input.environment,
      requestedBy: input.requestedBy,
      approvalsRequired: input.approvalPolicy.required,
      plan: d.plan,
      reason: input.reason,
    });
    if (sent.sent) rec.event('info', 'approvers notified in Slack');
  } catch (err) {
    if (cancelledBy(err)) throw err;
    rec.event('warn', `approval notification failed: ${failureOf(err).message}`);
  }
}

/** Ends a run whose gate closed without an approval. */
export function closeUnapproved(run: StackChangeRun, outcome: Exclude<ApprovalOutcome, 'approved'>): Deployment {
  const { d } = run;
  if (outcome === 'rejected') {
    return finish(
      run,
      'rejected',
      `rejected by ${d.rejection?.by}${d.rejection?.reason ? `: ${d.rejection.reason}` : ''}`,
    );
  }
  d.error = { code: 'APPROVAL_EXPIRED', message: 'no decision before the approval timeout' };
  return finish(run, 'expired');
}

/** applying → verifying → a recorded state version. */
export async function applyAndRecord(
  run: StackChangeRun,
  kind: RunKind,
  { plan, config }: PlannedChange,
  restoredFrom?: number,
): Promise<StateVersionSummary> {
  const { input, d, rec, target } = run;
  rec.setStatus('applying');
  d.applyStartedAt = rec.now();
  const result = await applying.applyRun({ ...target, plan });
  d.applyCompletedAt = rec.now();
  if (result.resumed) rec.event('warn', 'apply resumed after a worker failure');
  d.outputs = result.outputs;
  d.resources = d.resources.map((r) => ({ ...r, status: r.action === 'delete' ? 'deleted' : 'applied' }));
  if (input.verify.length > 0 && kind !== 'destroy') {
    rec.setStatus('verifying');
    await verifying.verifyRun({ ...target, config, checks: input.verify, outputs: result.outputs });
  }
  const v = await stores.recordVersion({
    runId: input.id,
    stack: input.stack,
    environment: input.environment,
    kind,
    plan,
    restoredFrom: restoredFrom ?? input.targetVersion,
  });
  d.stateVersion = v.version;
  return v;
}

/**
 * Applies the approved change; when the apply or its verification fails, a deploy under the environment's
 * autoRollback policy rolls back to the last good version, anything else ends failed.
 */
export async function applyOrRollBack(
  run: StackChangeRun,
  change: PlannedChange,
  previous: StateVersionSummary | undefined,
): Promise<Deployment> {
  const { input, d, rec } = run;
  try {
    await applyAndRecord(run, input.kind, change);
    return finish(run, 'succeeded');
  } catch (err) {
    const runCancelled = CancellationScope.current().consideredCancelled;
    if (!runCancelled && isInterruption(err) && patched(PATCH_INTERRUPTION_NO_ROLLBACK))
      return endInterrupted(run, err);
    if (cancelledBy(err)) throw err;
    d.error = failureOf(err);
    d.resources.forEach((r) => (r.status = r.status === 'planned' ? 'failed' : r.status));
    rec.event('error', `${d.error.code}: ${d.error.message}`);
    if (input.kind === 'deploy' && input.autoRollback) return autoRollback(run, previous);
    return finish(run, 'failed');
  }
}

/**
 * An apply or verification that was stopped (worker shutdown, reset, lost heartbeat) while nobody cancelled the
 * run ends failed as it stands: the rollback would be a change nobody approved, answering a failure that the
 * change never had. The state keeps what was applied; running the change again finishes it.
 */
function endInterrupted(run: StackChangeRun, err: unknown): Deployment {
  const { d, rec } = run;
  const step = d.status;
  const f = failureOf(err);
  d.error = f.code === 'FAILED' ? { code: 'APPLY_INTERRUPTED', message: `${step} interrupted: ${f.message}` } : f;
  d.rollback = { status: 'skipped' };
  rec.event('warn', `${d.error.code}: ${d.error.message}`);
  return finish(
    run,
    'failed',
    `${step} was interrupted, not failed: no automatic rollback (it would apply a plan nobody approved); ` +
      'the state keeps what was applied, run the change again to finish it',
  );
}

/** rolling_back: re-applies the configuration of the last good version as this run's compensation. */
async function autoRollback(run: StackChangeRun, previous: StateVersionSummary | undefined): Promise<Deployment> {
  const { input, d, target } = run;
  // Before the first deploy and after a destroy the last good state is empty: re-applying a version's
  // configuration would re-create what was destroyed.
  if ((!previous || previous.kind === 'destroy') && patched(PATCH_ROLLBACK_TO_EMPTY))
    return rollBackToEmpty(run, previous);
  if (!previous) {
    d.rollback = { status: 'skipped' };
    return finish(run, 'failed', 'no earlier state version to roll back to');
  }
  run.rec.setStatus('rolling_back', `rolling back to version ${previous.version}`);
  d.rollback = { toVersion: previous.version, status: 'failed' };
  try {
    const config = await planning.prepareRun({ ...target, fromVersion: previous.version });
    const plan = await planning.planRun({ ...target, variables: {}, config });
    const v = plan.hasChanges
      ? await applyAndRecord(run, 'rollback', { plan, config }, previous.version)
      : await stores.recordVersion({
          runId: input.id,
          stack: input.stack,
          environment: input.environment,
          kind: 'rollback',
          plan,
          restoredFrom: previous.version,
        });
    d.rollback = { toVersion: previous.version, status: 'succeeded', stateVersion: v.version };
    d.stateVersion = v.version;
    return finish(run, 'rolled_back', `rolled back to version ${previous.version} (now version ${v.version})`);
  } catch (err) {
    if (cancelledBy(err)) throw err;
    d.rollback = { toVersion: previous.version, status: 'failed', error: failureOf(err) };
    return finish(run, 'failed', `automatic rollback failed: ${d.rollback.error!.message}`);
  }
}

/**
 * rolling_back to nothing: plans the destroy of whatever the failed apply left in the state and applies it,
 * recorded as a `destroy` version (so the next failure still finds the empty state as the last good one).
 */
async function rollBackToEmpty(run: StackChangeRun, previous: StateVersionSummary | undefined): Promise<Deployment> {
  const { d, rec, target } = run;
  const why = previous ? `version ${previous.version} is a destroy` : 'nothing was deployed before';
  rec.setStatus('rolling_back', `the last good state is empty (${why}): removing what the failed apply created`);
  d.rollback = { toVersion: previous?.version, status: 'failed' };
  let leftovers: string[] | undefined;
  try {
    // The destroyed version's configuration, or the stack's own; never the failed run's variables.
    const fromVersion = previous?.version;
    const config = await planning.prepareRun({ ...target, variables: {}, fromVersion });
    const plan = await planning.planRun({ ...target, variables: {}, config, destroy: true });
    leftovers = plan.resources.filter((r) => r.action === 'delete' || r.action === 'replace').map((r) => r.address);
    if (!plan.hasChanges) {
      d.rollback = { toVersion: previous?.version, status: 'succeeded' };
      return finish(run, 'rolled_back', 'the failed apply left nothing behind: the stack stays empty');
    }
    rec.event('info', `removing ${leftovers.length} leftover resource(s): ${leftovers.join(', ')}`);
    const v = await applyAndRecord(run, 'destroy', { plan, config }, previous?.version);
    d.rollback = { toVersion: previous?.version, status: 'succeeded', stateVersion: v.version };
    d.stateVersion = v.version;
    return finish(
      run,
      'rolled_back',
      `removed ${leftovers.length} leftover resource(s): the stack is empty again (version ${v.version})`,
    );
  } catch (err) {
    if (cancelledBy(err)) throw err;
    d.rollback = { toVersion: previous?.version, status: 'failed', error: failureOf(err) };
    const left = leftovers
      ? `; left in place: ${leftovers.join(', ') || 'nothing'}`
      : '; see the state for what is left';
    return finish(run, 'failed', `removing the failed apply's leftovers failed: ${d.rollback.error!.message}${left}`);
  }
}

/**
 * Ends a run a step threw out of: a cancellation ends `cancelled` (lock released first, outside the cancelled
 * scope), anything else `failed` with the step's own error.
 */
export async function endOnError(
  run: StackChangeRun,
  err: unknown,
  releaseLock: () => Promise<void>,
): Promise<Deployment> {
  const { d, rec } = run;
  if (cancelledBy(err)) {
    // Keep what the interrupted step reported (what it applied, the state it saved) as the run's error.
    d.error = isCancellation(err) ? { code: 'CANCELLED', message: 'run cancelled' } : failureOf(err);
    if (!isCancellation(err)) rec.event('warn', `${d.error.code}: ${d.error.message}`);
    await CancellationScope.nonCancellable(async () => {
      await releaseLock();
      finish(run, 'cancelled', `cancelled while ${d.status}`);
    });
    return d;
  }
  d.error = d.error ?? failureOf(err);
  return finish(run, 'failed', `${d.error.code}: ${d.error.message}`);
}
