/**
 * One stack-change run in progress: its document (what the status query returns), the recorder that owns its
 * status and events, its approval gate, and the helpers every step shares.
 */
import { CancellationScope, isCancellation, patched, setHandler } from '@temporalio/workflow';
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
import type { ApprovalGate } from './approval-gate';
import { PolicyGate } from './policy-gate';
import { installApprovalGate, RunRecorder } from './run-recorder';
import { localSteps, REMOTE_STEPS, type StackChangeSteps } from './stack-change-activities';

/** patched() ids: wire names, never change or reuse. */
const PATCH_STATUS_MEMO = 'status-memo';
const PATCH_LOCAL_STEPS = 'local-steps';
/** The memo carries the run document's revision (run-recorder.ts trackRevisions). */
const PATCH_DOC_REVISION = 'doc-revision';
/** A quick executor's steps that always run together go as one local activity (stack-change-activities.ts). */
const PATCH_COMBINED_STEPS = 'combined-quick-steps';

/** One run in progress: its input, the document the status query returns, and the recorder that owns it. */
export interface StackChangeRun {
  input: DeploymentInput;
  d: Deployment;
  rec: RunRecorder<DeploymentStatus, Deployment>;
  gate: ApprovalGate;
  /** The plan's policy findings: a denial blocks the approval gate until an admin overrides it. */
  policy: PolicyGate;
  /** The activities the steps call: local where a step is quick (see stack-change-activities.ts). */
  steps: StackChangeSteps;
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

export function planView(p: PlanSummary, risk: Risk): PlanView {
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
    priority: input.priority,
    releaseId: input.releaseId,
  };
}

const planText = (d: Deployment) => (d.plan ? `+${d.plan.add} ~${d.plan.change} -${d.plan.destroy}` : undefined);

/** Sets up the run document, its status publication, the approval gate and the status query. */
export function startRun(input: DeploymentInput): StackChangeRun {
  // Decided before the first command, once per run: the same run never mixes the two shapes.
  const quick = input.executor === 'simulated';
  const steps = patched(PATCH_LOCAL_STEPS) ? localSteps(quick, quick && patched(PATCH_COMBINED_STEPS)) : REMOTE_STEPS;
  const d = newDeployment(input, new Date().toISOString());
  const rec = new RunRecorder<DeploymentStatus, Deployment>(d, {
    memo: {
      patchId: PATCH_STATUS_MEMO,
      // The plan hash lets the API sign a decision from `describe` alone (run-service.ts decisionTarget).
      of: (doc) => ({ status: doc.status, ...(doc.plan ? { plan: planText(doc), planHash: doc.plan.planHash } : {}) }),
    },
    details: (doc) =>
      `**${doc.kind} ${doc.stack} → ${doc.environment}**: ${doc.status}` +
      (doc.plan ? ` · plan ${planText(doc)} (${doc.plan.risk})` : '') +
      (doc.status === 'awaiting_approval' ? ` · approvals ${doc.approvals.length}/${doc.approvalsRequired}` : '') +
      (doc.error ? ` · ${doc.error.code}` : ''),
  });
  const policy: PolicyGate = new PolicyGate({
    allowOverride: input.allowPolicyOverride ?? false,
    approvalPolicy: input.approvalPolicy,
    report: () => d.plan?.policy,
    log: (level, message) => rec.event(level, message),
    onChange: () => (d.policyOverride = policy.override),
  });
  policy.install();
  const gate: ApprovalGate = installApprovalGate(input.requestedBy, d, rec, () => policy.denial(), {
    document: () => rec.publishedView(),
    // The last approval moves the saga to `applying`, a rejection ends it: both in the task that took the decision.
    settled: () => gate.state === 'pending' || d.status !== 'awaiting_approval',
  });
  if (patched(PATCH_DOC_REVISION)) rec.trackRevisions();
  setHandler(statusQuery, () => rec.view());
  rec.publish();
  const target = { runId: input.id, stack: input.stack, environment: input.environment, variables: input.variables };
  return { input, d, rec, gate, policy, steps, target };
}

/** Ends the run with `status` (terminal) and returns its document. */
export function finish(run: StackChangeRun, status: DeploymentStatus, message?: string): Deployment {
  run.rec.setStatus(status, message);
  run.d.completedAt = run.rec.now();
  return run.d;
}
