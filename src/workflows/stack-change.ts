/**
 * The saga every stack-changing run follows (deploy, rollback, destroy — and the automatic rollback inside a
 * failed deploy, which reuses the same plan/apply/record steps):
 * queued → planning → awaiting_approval → applying → verifying → succeeded, every failure path ending cleanly
 * with the stack lock released.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { IacActivities, StateVersionSummary } from '../activities/iac';
import type { NotifyActivities } from '../activities/notify/slack';
import type { TemporalActivities } from '../activities/temporal';
import type { ConfigSnapshot, PlanSummary } from '../contracts/iac';
import { StatusKey } from '../shared/search-attributes';
import { ApprovalGate } from './approval-gate';
import { failureOf } from './failure';
import { PolicyGate } from './policy-gate';
import {
  statusQuery,
  type Deployment,
  type DeploymentInput,
  type DeploymentStatus,
  type PlanView,
  type Risk,
  type RunError,
  type RunKind,
} from '../contracts/runs';
import { lockGrantedSignal, releaseSignal, stackLockWorkflowId } from '../contracts/lock';

const NON_RETRYABLE = ['PLAN_STALE', 'APPLY_FAILED', 'APPLY_INTERRUPTED', 'PLAN_FAILED', 'VERIFY_FAILED', 'STACK_NOT_FOUND', 'STATE_VERSION_NOT_FOUND', 'PROVIDER_UNAVAILABLE', 'SYNTH_FAILED', 'INIT_FAILED'];

/** Planning: synth/init/plan are restartable, so retry them a few times. */
const iacPlan: ActivityOptions = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: '60s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
/** Apply: long, heartbeating, cancellable with the tool interrupted cleanly; a crashed worker's attempt is resumed. */
const iacApply: ActivityOptions = {
  startToCloseTimeout: '2h',
  heartbeatTimeout: '20s',
  retry: { maximumAttempts: 3, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const quick: ActivityOptions = { startToCloseTimeout: '2m', retry: { maximumAttempts: 5 } };

const plan = proxyActivities<IacActivities>(iacPlan);
const apply = proxyActivities<IacActivities>(iacApply);
const store = proxyActivities<IacActivities>(quick);
const temporal = proxyActivities<TemporalActivities>(quick);
const notify = proxyActivities<NotifyActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

const MAX_EVENTS = 200;
/** patched() ids: wire names, never change or reuse. */
const PATCH_STATUS_MEMO = 'status-memo';
const PATCH_APPROVAL_NOTIFY = 'approval-notify';
const PATCH_POLICY_COST = 'policy-cost';

const errorOf = (err: unknown): RunError => failureOf(err);

/**
 * True when the run is being cancelled: either the error is the cancellation itself, or an activity that was
 * asked to stop reported how it stopped (e.g. APPLY_INTERRUPTED, with what it left behind).
 */
function cancelledBy(err: unknown): boolean {
  return isCancellation(err) || CancellationScope.current().consideredCancelled;
}

export function riskOf(kind: RunKind, p: PlanSummary, gated: boolean): Risk {
  if (kind === 'destroy') return 'high';
  const destructive = p.resources.some((r) => r.action === 'delete' || r.action === 'replace');
  if (destructive && gated) return 'high';
  if (destructive || p.change > 0) return 'medium';
  return 'low';
}

/** Runs one stack change to its end and returns the final `Deployment`. */
export async function runStackChange(input: DeploymentInput): Promise<Deployment> {
  const now = () => new Date().toISOString();
  const target = { runId: input.id, stack: input.stack, environment: input.environment, variables: input.variables };
  const d: Deployment = {
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
    updatedAt: now(),
    approvals: [],
    approvalsRequired: input.approvalPolicy.required,
    resources: [],
    outputs: {},
    events: [],
    priority: input.priority,
    releaseId: input.releaseId,
  };
  const event = (level: 'info' | 'warn' | 'error', message: string) => {
    d.events.push({ ts: now(), level, message });
    if (d.events.length > MAX_EVENTS) d.events.splice(0, d.events.length - MAX_EVENTS);
    d.updatedAt = now();
  };
  const setStatus = (status: DeploymentStatus, message?: string) => {
    d.status = status;
    d.updatedAt = now();
    event(status === 'failed' ? 'error' : 'info', message ?? `status → ${status}`);
    publish();
  };
  // Search attributes make the status filterable; memo and current details make it readable at a glance in
  // the Temporal Web UI. upsertMemo is a command, so runs started before it existed replay without it.
  const publish = () => {
    upsertSearchAttributes([{ key: StatusKey, value: d.status }]);
    if (patched(PATCH_STATUS_MEMO)) upsertMemo({ status: d.status, ...(d.plan ? { plan: `+${d.plan.add} ~${d.plan.change} -${d.plan.destroy}` } : {}) });
    setCurrentDetails(
      `**${d.kind} ${d.stack} → ${d.environment}**: ${d.status}` +
        (d.plan ? ` · plan +${d.plan.add} ~${d.plan.change} -${d.plan.destroy} (${d.plan.risk})` : '') +
        (d.status === 'awaiting_approval' ? ` · approvals ${d.approvals.length}/${d.approvalsRequired}` : '') +
        (d.error ? ` · ${d.error.code}` : ''),
    );
  };
  const policy = new PolicyGate({ runId: input.id, allowOverride: input.allowPolicyOverride ?? false, approvalPolicy: input.approvalPolicy, report: () => d.plan?.policy, log: event, onChange: () => (d.policyOverride = policy.override) });
  policy.install();
  const gate = new ApprovalGate({
    requestedBy: input.requestedBy,
    denied: () => policy.denial(),
    onChange: () => {
      const v = gate.view();
      d.approvals = v.approvals;
      d.rejection = v.rejection;
      d.approvalExpiresAt = v.expiresAt;
      d.updatedAt = now();
    },
    log: (level, message) => event(level, message),
  });
  gate.install();
  setHandler(statusQuery, () => d);
  publish();

  const wfId = workflowInfo().workflowId;
  const lockId = stackLockWorkflowId(input.stack, input.environment);
  let lockRequested = false;
  let lockGranted = false;
  setHandler(lockGrantedSignal, () => {
    lockGranted = true;
  });
  const releaseLock = async () => {
    if (!lockRequested) return;
    lockRequested = false;
    try {
      await getExternalWorkflowHandle(lockId).signal(releaseSignal, { workflowId: wfId });
    } catch {
      // The lock workflow notices dead or finished holders on its own; nothing is stuck.
    }
  };
  const finish = (status: DeploymentStatus, message?: string) => {
    setStatus(status, message);
    d.completedAt = now();
  };

  try {
    // Runs that may change infrastructure wait for the stack lock; dry runs plan without it.
    if (!input.dryRun) {
      lockRequested = true;
      await temporal.requestStackLock({ stack: input.stack, environment: input.environment, workflowId: wfId, priority: input.priority });
      event('info', 'waiting for the stack lock');
      await condition(() => lockGranted);
      event('info', 'stack lock acquired');
    }
    const previous = input.kind === 'deploy' ? await store.latestVersion(input) : undefined;

    setStatus('planning');
    const config = await plan.prepareRun({ ...target, fromVersion: input.kind === 'rollback' ? input.targetVersion : undefined });
    const p = await plan.planRun({ ...target, config, destroy: input.kind === 'destroy' });
    const risk = riskOf(input.kind, p, input.approvalPolicy.required > 0);
    d.plan = planView(p, risk);
    if (patched(PATCH_POLICY_COST)) Object.assign(d.plan, await policy.assess({ ...target, kind: input.kind, requestedBy: input.requestedBy, plan: p, flags: input.policyFlags }));
    d.resources = p.resources.map((r) => ({ address: r.address, type: r.type, action: r.action, status: 'planned' }));
    for (const n of p.notes ?? []) event('warn', n);
    event('info', `plan: ${p.add} to add, ${p.change} to change, ${p.destroy} to destroy (risk ${risk}, hash ${p.planHash.slice(0, 12)})`);

    if (!p.hasChanges) {
      finish('no_changes', 'plan is empty: nothing to apply');
      return d;
    }
    if (input.dryRun) {
      finish('planned', 'dry run: plan saved, nothing applied');
      return d;
    }

    setStatus('awaiting_approval', input.approvalPolicy.required > 0 ? `waiting for ${input.approvalPolicy.required} approval(s)` : undefined);
    if (input.approvalPolicy.required > 0 && patched(PATCH_APPROVAL_NOTIFY)) {
      // Best effort: tell the approvers (Slack buttons); a notification failure never holds up the run.
      try {
        const sent = await notify.notifyApprovalNeeded({ runId: input.id, kind: input.kind, stack: input.stack, environment: input.environment, requestedBy: input.requestedBy, approvalsRequired: input.approvalPolicy.required, plan: d.plan, reason: input.reason });
        if (sent.sent) event('info', 'approvers notified in Slack');
      } catch (err) {
        if (cancelledBy(err)) throw err;
        event('warn', `approval notification failed: ${errorOf(err).message}`);
      }
    }
    const outcome = await gate.waitForDecision(policy.gatePolicy(input.approvalPolicy), p.planHash);
    if (outcome === 'rejected') {
      finish('rejected', `rejected by ${d.rejection?.by}${d.rejection?.reason ? `: ${d.rejection.reason}` : ''}`);
      return d;
    }
    if (outcome === 'expired') {
      d.error = { code: 'APPROVAL_EXPIRED', message: 'no decision before the approval timeout' };
      finish('expired');
      return d;
    }

    try {
      await applyAndRecord(input.kind, p, config);
      finish('succeeded');
      return d;
    } catch (err) {
      if (cancelledBy(err)) throw err;
      d.error = errorOf(err);
      d.resources.forEach((r) => (r.status = r.status === 'planned' ? 'failed' : r.status));
      event('error', `${d.error.code}: ${d.error.message}`);
      if (input.kind === 'deploy' && input.autoRollback) {
        await autoRollback(previous);
      } else {
        finish('failed');
      }
      return d;
    }
  } catch (err) {
    if (cancelledBy(err)) {
      // Keep what the interrupted step reported (what it applied, the state it saved) as the run's error.
      d.error = isCancellation(err) ? { code: 'CANCELLED', message: 'run cancelled' } : errorOf(err);
      if (!isCancellation(err)) event('warn', `${d.error.code}: ${d.error.message}`);
      await CancellationScope.nonCancellable(async () => {
        await releaseLock();
        finish('cancelled', `cancelled while ${d.status}`);
      });
      return d;
    }
    d.error = d.error ?? errorOf(err);
    finish('failed', `${d.error.code}: ${d.error.message}`);
    return d;
  } finally {
    await CancellationScope.nonCancellable(releaseLock);
  }

  async function applyAndRecord(kind: RunKind, p: PlanSummary, config: ConfigSnapshot, restoredFrom?: number): Promise<StateVersionSummary> {
    setStatus('applying');
    d.applyStartedAt = now();
    const result = await apply.applyRun({ ...target, plan: p });
    d.applyCompletedAt = now();
    if (result.resumed) event('warn', 'apply resumed after a worker failure');
    d.outputs = result.outputs;
    d.resources = d.resources.map((r) => ({ ...r, status: r.action === 'delete' ? 'deleted' : 'applied' }));
    if (input.verify.length > 0 && kind !== 'destroy') {
      setStatus('verifying');
      await plan.verifyRun({ ...target, config, checks: input.verify, outputs: result.outputs });
    }
    const v = await store.recordVersion({ runId: input.id, stack: input.stack, environment: input.environment, kind, plan: p, restoredFrom: restoredFrom ?? input.targetVersion });
    d.stateVersion = v.version;
    return v;
  }

  async function autoRollback(previous: StateVersionSummary | undefined): Promise<void> {
    if (!previous) {
      d.rollback = { status: 'skipped' };
      finish('failed', 'no earlier state version to roll back to');
      return;
    }
    setStatus('rolling_back', `rolling back to version ${previous.version}`);
    d.rollback = { toVersion: previous.version, status: 'failed' };
    try {
      const config = await plan.prepareRun({ ...target, fromVersion: previous.version });
      const rp = await plan.planRun({ ...target, variables: {}, config });
      const v = rp.hasChanges
        ? await applyAndRecord('rollback', rp, config, previous.version)
        : await store.recordVersion({ runId: input.id, stack: input.stack, environment: input.environment, kind: 'rollback', plan: rp, restoredFrom: previous.version });
      d.rollback = { toVersion: previous.version, status: 'succeeded', stateVersion: v.version };
      d.stateVersion = v.version;
      finish('rolled_back', `rolled back to version ${previous.version} (now version ${v.version})`);
    } catch (err) {
      if (cancelledBy(err)) throw err;
      d.rollback = { toVersion: previous.version, status: 'failed', error: errorOf(err) };
      finish('failed', `automatic rollback failed: ${d.rollback.error!.message}`);
    }
  }
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
