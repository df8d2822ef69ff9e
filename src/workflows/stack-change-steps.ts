/**
 * The steps of a stack change, in runbook order: plan, await approval, apply and record (with verification),
 * finish. stack-change.ts strings them together; the automatic rollback is stack-change-rollback.ts.
 */
import { CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import type { StateVersionSummary } from '../activities/iac';
import type { PlanStepsInput, PlanStepsResult } from '../activities/steps';
import type { PlanSummary } from '../contracts/iac';
import type { Deployment, RunKind } from '../contracts/runs';
import type { ApprovalOutcome } from './approval-gate';
import { failureOf } from './failure';
import { notifications } from './stack-change-activities';
import { cancelledBy, finish, riskOf, planView, type PlannedChange, type StackChangeRun } from './stack-change-run';

/** patched() ids: wire names, never change or reuse. */
const PATCH_APPROVAL_NOTIFY = 'approval-notify';
const PATCH_APPROVAL_GATE_FIRST = 'approval-gate-first';
const PATCH_POLICY_COST = 'policy-cost';

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
  const { input, d, rec, target, steps } = run;
  rec.setStatus('planning');
  const prepare = { ...target, fromVersion: input.kind === 'rollback' ? input.targetVersion : undefined };
  // Read by a person before anything is applied (an approval, a dry run): the log gets the readable diff too.
  const readable = input.dryRun || input.approvalPolicy.required > 0;
  const planning = { ...target, destroy: input.kind === 'destroy', readable };
  const assessing = { ...target, kind: input.kind, requestedBy: input.requestedBy, flags: input.policyFlags };
  // Cost and the Rego policies' findings join the plan view; a denial then blocks the approval gate. (Every run
  // that plans in one step was started after the assessment existed: its patch is asked before the plan there.)
  // Step by step the plan view is set as soon as the plan exists, before the assessment's own step: the memo
  // revisions of recorded histories follow that order.
  const show = (plan: PlanSummary) =>
    (d.plan = planView(plan, riskOf(input.kind, plan, input.approvalPolicy.required > 0)));
  const { config, plan, assessed } = steps.combined
    ? await steps.combined.planSteps({
        prepare,
        plan: planning,
        assess: patched(PATCH_POLICY_COST) ? assessing : undefined,
      })
    : await planStepByStep(steps, prepare, planning, assessing, show);
  const view = steps.combined ? show(plan) : d.plan!;
  if (assessed) Object.assign(view, assessed);
  d.resources = plan.resources.map((r) => ({ address: r.address, type: r.type, action: r.action, status: 'planned' }));
  for (const n of plan.notes ?? []) rec.event('warn', n);
  rec.event(
    'info',
    `plan: ${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy (risk ${view.risk}, hash ${plan.planHash.slice(0, 12)})`,
  );
  return { config, plan };
}

/** Snapshot, plan and assessment as three steps, in that order (every executor but the quick ones). */
async function planStepByStep(
  steps: StackChangeRun['steps'],
  prepare: PlanStepsInput['prepare'],
  planning: PlanStepsInput['plan'],
  assessing: NonNullable<PlanStepsInput['assess']>,
  show: (plan: PlanSummary) => void,
): Promise<PlanStepsResult> {
  const config = await steps.planning.prepareRun(prepare);
  const plan = await steps.planning.planRun({ ...planning, config });
  show(plan);
  if (!patched(PATCH_POLICY_COST)) return { config, plan };
  return { config, plan, assessed: await steps.policy.assessPlan({ ...assessing, plan }) };
}

/**
 * awaiting_approval: open the gate for exactly this plan hash, tell the approvers, wait for the decision. The
 * gate opens in the same workflow task that publishes awaiting_approval, and the notification runs beside the
 * wait: an approval that arrives while Slack is slow (30 s × 3 attempts) is taken, not refused.
 */
export async function awaitApproval(run: StackChangeRun, plan: PlanSummary): Promise<ApprovalOutcome> {
  const { input, rec, gate, policy } = run;
  const required = input.approvalPolicy.required;
  if (required > 0 && patched(PATCH_APPROVAL_GATE_FIRST)) {
    gate.open(policy.gatePolicy(input.approvalPolicy), plan.planHash);
    rec.setStatus('awaiting_approval', `waiting for ${required} approval(s)`);
    // Not awaited: the run's own cancellation reaches it through the decision, so its end is of no interest here.
    void notifyApprovers(run).catch(() => undefined);
    return gate.decision();
  }
  // Runs recorded before the gate opened first: status, then the notification awaited, then the gate. Also every
  // run nobody has to approve: a plan a policy denies still waits here for an override and an approval, or fails.
  rec.setStatus('awaiting_approval', required > 0 ? `waiting for ${required} approval(s)` : undefined);
  if (required > 0 && patched(PATCH_APPROVAL_NOTIFY)) await notifyApprovers(run);
  return gate.waitForDecision(policy.gatePolicy(input.approvalPolicy), plan.planHash);
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
  const { input, d, rec, target, steps } = run;
  rec.setStatus('applying');
  d.applyStartedAt = rec.now();
  const result = await steps.applying.applyRun({ ...target, plan });
  d.applyCompletedAt = rec.now();
  if (result.resumed) rec.event('warn', 'apply resumed after a worker failure');
  d.outputs = result.outputs;
  d.resources = d.resources.map((r) => ({ ...r, status: r.action === 'delete' ? 'deleted' : 'applied' }));
  const verify =
    input.verify.length > 0 && kind !== 'destroy'
      ? { ...target, config, checks: input.verify, outputs: result.outputs }
      : undefined;
  const record = {
    runId: input.id,
    stack: input.stack,
    environment: input.environment,
    kind,
    plan,
    restoredFrom: restoredFrom ?? input.targetVersion,
  };
  if (verify) rec.setStatus('verifying');
  let v: StateVersionSummary;
  if (steps.combined) {
    v = await steps.combined.verifyAndRecord({ verify, record });
  } else {
    if (verify) await steps.verifying.verifyRun(verify);
    v = await steps.stores.recordVersion(record);
  }
  d.stateVersion = v.version;
  return v;
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
