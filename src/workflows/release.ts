/**
 * ReleaseWorkflow: several stacks of one environment in dependency order. Each topological wave runs its stacks as
 * child deployment runs — the very workflow a single deployment is, so every run still queues on its stack's lock
 * and obeys its environment — at most `maxParallel` at once, and each stack's outputs become its dependents'
 * variables. With `approval: release` in a gated environment every stack is planned first (dry-run children, in
 * wave order) and one approval covers the lot; the release then passes it on to each run whose plan is the one
 * approved, and asks again for any whose plan changed. A failed stack stops everything not yet started;
 * `onFailure: rollback` then re-applies the previous version of every stack this release changed, in reverse
 * dependency order. Cancelling the release cancels its running children and waits for them to end cleanly.
 */
import {
  CancelledFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  WorkflowIdReusePolicy,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { IacActivities } from '../activities/iac';
import type { ReleaseActivities } from '../activities/release';
import type { ApprovalPolicy } from '../contracts/approval';
import {
  RELEASE_ROLE,
  releaseRunId,
  releaseStatusQuery,
  type Release,
  type ReleaseInput,
  type ReleaseStack,
  type ReleaseStackPlan,
  type ReleaseStatus,
} from '../contracts/release';
import {
  deploymentWorkflowId,
  TERMINAL_STATUSES,
  type Deployment,
  type DeploymentInput,
  type RunError,
} from '../contracts/runs';
import { denialOf, type PolicyReport } from '../contracts/policy';
import { EnvironmentKey, KindKey, RequestedByKey, StackKey, StatusKey } from '../shared/search-attributes';
import { ApprovalGate } from './approval-gate';
import { deploymentWorkflow } from './deployment';
import { failureOf } from './failure';
import { PolicyGate } from './policy-gate';
import {
  boundedAll,
  downstreamOf,
  highestRisk,
  planMismatch,
  previewInputs,
  releaseCost,
  releaseDigest,
  releaseImpact,
  releasePolicy,
  changeSet,
  wireInputs,
  type ApprovedPreview,
  type KnownOutputs,
} from './release-steps';
import { rollbackWorkflow } from './rollback';

const quick: ActivityOptions = { startToCloseTimeout: '2m', retry: { maximumAttempts: 5 } };
/** Watching a run can take as long as its queue and approval; heartbeats keep it honest, retries keep it going. */
const watching: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
};
const deciding: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: {
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['POLICY_DENIED', 'NOT_AWAITING_APPROVAL', 'FORBIDDEN', 'CONFLICT', 'NOT_FOUND'],
  },
};

const store = proxyActivities<IacActivities>(quick);
const watch = proxyActivities<ReleaseActivities>(watching);
const decide = proxyActivities<ReleaseActivities>(deciding);

const MAX_EVENTS = 300;

export async function releaseWorkflow(input: ReleaseInput): Promise<Release> {
  const now = () => new Date().toISOString();
  const gated = input.approval === 'release' && input.approvalPolicy.required > 0;
  const plans = new Map(input.stacks.map((p) => [p.stack, p]));
  const r: Release = {
    id: input.id,
    name: input.name,
    environment: input.environment,
    status: gated || input.dryRun ? 'planning' : 'running',
    requestedBy: input.requestedBy,
    dryRun: input.dryRun,
    approval: input.approval,
    onFailure: input.onFailure,
    maxParallel: input.maxParallel,
    createdAt: input.createdAt,
    updatedAt: now(),
    waves: input.waves,
    edges: input.edges,
    stacks: input.stacks.map((p) => ({
      stack: p.stack,
      wave: p.wave,
      dependsOn: p.dependsOn,
      inputs: Object.fromEntries(p.inputs.map((i) => [i.variable, `${i.stack}.${i.output}`])),
      status: 'pending',
    })),
    impact: [],
    approvals: [],
    approvalsRequired: gated ? input.approvalPolicy.required : 0,
    events: [],
  };
  const stackOf = new Map(r.stacks.map((s) => [s.stack, s]));
  const event = (level: 'info' | 'warn' | 'error', message: string) => {
    r.events.push({ ts: now(), level, message });
    if (r.events.length > MAX_EVENTS) r.events.splice(0, r.events.length - MAX_EVENTS);
    r.updatedAt = now();
  };
  const publish = () => {
    upsertSearchAttributes([{ key: StatusKey, value: r.status }]);
    const done = r.stacks.filter(
      (s) => s.status === 'skipped' || (s.status !== 'pending' && TERMINAL_STATUSES.includes(s.status)),
    ).length;
    setCurrentDetails(
      `**release ${r.name ?? r.id} → ${r.environment}**: ${r.status} · ${done}/${r.stacks.length} stacks done` +
        (r.risk ? ` · risk ${r.risk}` : ''),
    );
  };
  const setStatus = (status: ReleaseStatus, message?: string) => {
    r.status = status;
    event(status === 'failed' ? 'error' : 'info', message ?? `status → ${status}`);
    publish();
  };
  const finish = (status: ReleaseStatus, message?: string) => {
    setStatus(status, message);
    r.completedAt = now();
  };
  const summarize = () => {
    r.risk = highestRisk(r.stacks);
    r.cost = releaseCost(r.stacks);
    r.policy = releasePolicy(r.stacks);
    r.impact = releaseImpact(r.stacks, input.stacks);
  };

  /** While one stack's changed plan waits for the release's approvers: that plan's findings. */
  let reapprovalReport: PolicyReport | undefined;
  const policy = new PolicyGate({
    runId: input.id,
    allowOverride: input.allowPolicyOverride,
    approvalPolicy: input.approvalPolicy,
    report: () =>
      r.reapproval
        ? reapprovalReport
        : {
            results: r.stacks.flatMap((s) =>
              (s.plan?.policy?.results ?? []).map((x) => ({ ...x, policy: `${s.stack}/${x.policy}` })),
            ),
          },
    log: (level, message) => event(level, message),
    onChange: () => (r.policyOverride = policy.override),
  });
  policy.install();
  const gate = new ApprovalGate({
    requestedBy: input.requestedBy,
    denied: () => policy.denial(),
    onChange: () => {
      const v = gate.view();
      r.approvals = v.approvals;
      r.rejection = v.rejection;
      r.approvalExpiresAt = v.expiresAt;
      r.updatedAt = now();
    },
    log: (level, message) => event(level, message),
  });
  gate.install();
  setHandler(releaseStatusQuery, () => r);
  publish();

  /** What each stack's preview planned with, and what the release approval therefore covers. */
  const previews = new Map<string, ApprovedPreview>();
  /** Outputs of stacks done in this phase, for their dependents' variables. */
  const outputs = new Map<string, Record<string, unknown>>();
  const knownOutputs = new Map<string, KnownOutputs>();
  const previous = new Map<string, { version: number; outputs: Record<string, unknown> } | undefined>();
  let stoppedBy: string | undefined;

  const previousOf = async (stack: string) => {
    if (!previous.has(stack)) {
      const v = await store.latestVersion({ stack, environment: input.environment });
      previous.set(stack, v && v.kind !== 'destroy' ? { version: v.version, outputs: v.outputs } : undefined);
    }
    return previous.get(stack);
  };

  const cancelled = () => CancellationScope.current().consideredCancelled;
  const skip = (s: ReleaseStack) => {
    // A cancelled release marks what it never started once it stops (below).
    if (cancelled()) return;
    const blockedBy = stoppedBy && downstreamOf(stoppedBy, input.edges).has(s.stack);
    s.status = 'skipped';
    s.reason = blockedBy
      ? `not started: it depends on ${stoppedBy}, which failed`
      : `not started: the release stopped after ${stoppedBy} failed`;
    event('warn', `${s.stack}: ${s.reason}`);
  };

  const childOptions = (run: DeploymentInput, summary: string) => ({
    workflowId: deploymentWorkflowId(run.id),
    args: [run] as [DeploymentInput],
    cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    // A release that is terminated still lets its runs end cleanly (lock released, apply interrupted).
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: StackKey, value: run.stack },
      { key: EnvironmentKey, value: run.environment },
      { key: StatusKey, value: run.dryRun ? 'planning' : 'queued' },
      { key: KindKey, value: run.kind },
      { key: RequestedByKey, value: run.requestedBy },
    ],
    memo: {
      stack: run.stack,
      environment: run.environment,
      kind: run.kind,
      requestedBy: run.requestedBy,
      releaseId: input.id,
    },
    staticSummary: summary,
  });

  const delegated: ApprovalPolicy = {
    required: 1,
    roles: [RELEASE_ROLE],
    fourEyes: false,
    timeoutMs: input.approvalPolicy.timeoutMs,
    signed: input.approvalPolicy.signed,
  };

  /** One stack in one phase, start to end; false when it did not succeed. */
  async function runStack(plan: ReleaseStackPlan, phase: 'plan' | 'apply'): Promise<boolean> {
    const s = stackOf.get(plan.stack)!;
    const prev = await previousOf(plan.stack);
    if (phase === 'apply') s.previousVersion = prev?.version;
    let variables: Record<string, unknown>;
    if (phase === 'plan') {
      const wired = previewInputs(plan, knownOutputs);
      variables = wired.variables;
      s.knownAfterApply = wired.unknown.length ? wired.unknown : undefined;
    } else {
      const wired = wireInputs(plan, outputs);
      if (wired.missing.length) {
        s.status = 'failed';
        s.error = {
          code: 'RELEASE_INPUT_MISSING',
          message: `no value for ${wired.missing.join(', ')} (the upstream stack has no such output after its apply)`,
        };
        event('error', `${s.stack}: ${s.error.message}`);
        return false;
      }
      variables = wired.variables;
    }
    const runId = releaseRunId(input.id, plan.stack, phase);
    const run: DeploymentInput = {
      ...plan.run,
      id: runId,
      variables: { ...plan.run.variables, ...variables },
      dryRun: phase === 'plan',
      approvalPolicy: phase === 'apply' && gated ? delegated : plan.run.approvalPolicy,
      releaseId: input.id,
      createdAt: now(),
    };
    const handle = await startChild(
      deploymentWorkflow,
      childOptions(
        run,
        `${phase === 'plan' ? 'plan' : 'deploy'} ${plan.stack} → ${input.environment} (release ${input.name ?? input.id})`,
      ),
    );
    if (phase === 'plan') s.previewRunId = runId;
    else s.runId = runId;
    s.status = phase === 'plan' ? 'planning' : 'queued';
    event('info', `${s.stack}: ${phase === 'plan' ? 'planning' : 'deploying'} as run ${runId}`);

    let d: Deployment;
    try {
      if (phase === 'apply' && gated) await passApprovalOn(s, runId, variables);
      d = await handle.result();
      // A run cancelled with the release ends normally, as `cancelled`: the release stops here too.
      if (cancelled()) {
        s.status = d.status;
        throw new CancelledFailure('release cancelled');
      }
    } catch (err) {
      if (isCancellation(err) || cancelled()) {
        // The run was asked to stop with the release; report how it ended, once it has.
        const last = await CancellationScope.nonCancellable(() => handle.result().catch(() => undefined));
        s.status = last?.status ?? 'cancelled';
        throw err;
      }
      s.status = 'failed';
      s.error = failureOf(err);
      event('error', `${s.stack}: ${s.error.code}: ${s.error.message}`);
      return false;
    }

    s.status = d.status;
    s.error = d.error;
    if (d.plan) {
      const { add, change, destroy, planHash, risk, cost, policy, outputChanges } = d.plan;
      s.plan = { add, change, destroy, planHash, risk, cost, policy, outputChanges };
    }
    if (phase === 'plan') {
      previews.set(plan.stack, {
        changes: d.plan ? changeSet(d.plan) : [],
        variables,
        unknown: s.knownAfterApply ?? [],
      });
      knownOutputs.set(plan.stack, {
        values: prev?.outputs ?? {},
        changing: d.status === 'no_changes' ? new Set() : d.plan?.outputChanges ? new Set(d.plan.outputChanges) : 'all',
      });
      const ok = d.status === 'planned' || d.status === 'no_changes';
      if (!ok)
        event('error', `${s.stack}: plan ended ${d.status}${d.error ? ` (${d.error.code}: ${d.error.message})` : ''}`);
      return ok;
    }
    s.applyStartedAt = d.applyStartedAt;
    s.applyCompletedAt = d.applyCompletedAt;
    s.stateVersion = d.stateVersion;
    if (d.status === 'succeeded') outputs.set(plan.stack, d.outputs);
    else if (d.status === 'no_changes') outputs.set(plan.stack, prev?.outputs ?? {});
    s.outputs = outputs.get(plan.stack);
    const ok = d.status === 'succeeded' || d.status === 'no_changes';
    event(ok ? 'info' : 'error', `${s.stack}: ${d.status}${d.error ? ` (${d.error.code}: ${d.error.message})` : ''}`);
    return ok;
  }

  /**
   * The release approval covers a run whose plan is the one previewed; the release then approves the run as
   * itself. A plan that changed, or that a policy now denies, goes back to the release's approvers first.
   */
  async function passApprovalOn(s: ReleaseStack, runId: string, variables: Record<string, unknown>): Promise<void> {
    const d = await watch.awaitRunStatus({ runId, statuses: ['awaiting_approval'] });
    if (d.status !== 'awaiting_approval' || !d.plan) return;
    const preview = previews.get(s.stack);
    const denial = denialOf(d.plan.policy);
    const mismatch =
      (preview ? planMismatch(preview, d.plan, variables) : 'the stack was not planned with the release') ??
      (denial && !r.policyOverride ? denial : undefined);
    const approvers = r.approvals.map((a) => a.by).join(', ');
    if (mismatch) {
      // One question at a time: the gate holds one plan.
      await condition(() => r.reapproval === undefined);
      r.reapproval = { stack: s.stack, reason: mismatch };
      reapprovalReport = d.plan.policy;
      setStatus('awaiting_approval', `${s.stack}: ${mismatch}; waiting for the release's approvers again`);
      const outcome = await gate.waitForDecision(input.approvalPolicy, d.plan.planHash);
      r.reapproval = undefined;
      if (outcome !== 'approved') {
        setStatus('running', `${s.stack}: its changed plan was ${outcome}`);
        await decide.decideReleaseRun({
          releaseId: input.id,
          runId,
          decision: 'reject',
          reason: `release ${input.id}: changed plan ${outcome}`,
        });
        return;
      }
      setStatus('running', `${s.stack}: changed plan approved by ${r.approvals.map((a) => a.by).join(', ')}`);
    }
    try {
      if (denial && r.policyOverride) {
        // The release's override covers its stacks: the run records it as its own, with the admin's reason.
        const o = r.policyOverride;
        await decide.decideReleaseRun({
          releaseId: input.id,
          runId,
          decision: 'override',
          reason: `overridden with release ${input.id} by ${o.by}: ${o.reason}`,
        });
      }
      await decide.decideReleaseRun({
        releaseId: input.id,
        runId,
        decision: 'approve',
        planHash: d.plan.planHash,
        comment: `approved with release ${input.id} by ${mismatch ? r.approvals.map((a) => a.by).join(', ') : approvers}`,
      });
      event('info', `${s.stack}: approval passed on to run ${runId}`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const e = failureOf(err);
      // The run stays awaiting approval, visible, until someone decides on it or the release is cancelled.
      event('error', `${s.stack}: the run refused the release's approval: ${e.code}: ${e.message}`);
    }
  }

  async function runPhase(phase: 'plan' | 'apply'): Promise<boolean> {
    for (const wave of input.waves) {
      const items = wave.map((name) => plans.get(name)!);
      await boundedAll(
        items,
        input.maxParallel,
        async (plan) => {
          if (!(await runStack(plan, phase))) stoppedBy ??= plan.stack;
        },
        () => stoppedBy !== undefined || cancelled(),
        (plan) => skip(stackOf.get(plan.stack)!),
      );
      summarize();
    }
    return stoppedBy === undefined;
  }

  /** Re-applies the previous version of every stack this release changed, latest wave first. */
  async function rollBack(): Promise<RunError | undefined> {
    setStatus('rolling_back', `rolling back what this release changed after ${stoppedBy} failed`);
    const problems: string[] = [];
    for (const wave of [...input.waves].reverse()) {
      const changed = wave.map((n) => stackOf.get(n)!).filter((s) => s.status === 'succeeded');
      await boundedAll(
        changed,
        input.maxParallel,
        async (s) => {
          if (s.previousVersion === undefined) {
            s.rollback = { status: 'skipped', reason: 'no earlier version to return to: this release created it' };
            problems.push(`${s.stack} was created by this release and is left in place`);
            return;
          }
          const runId = releaseRunId(input.id, s.stack, 'rollback');
          const plan = plans.get(s.stack)!;
          const run: DeploymentInput = {
            ...plan.run,
            id: runId,
            kind: 'rollback',
            variables: {},
            dryRun: false,
            targetVersion: s.previousVersion,
            reason: `release ${input.id}: ${stoppedBy} failed`,
            approvalPolicy: input.rollbackApprovalPolicy,
            priority: 'high',
            releaseId: input.id,
            createdAt: now(),
          };
          s.rollback = { runId, toVersion: s.previousVersion, status: 'queued' };
          event('info', `${s.stack}: rolling back to version ${s.previousVersion} as run ${runId}`);
          const handle = await startChild(
            rollbackWorkflow,
            childOptions(
              run,
              `rollback ${s.stack} → ${input.environment} to v${s.previousVersion} (release ${input.id})`,
            ),
          );
          const d = await handle.result();
          s.rollback = {
            runId,
            toVersion: s.previousVersion,
            status: d.status,
            stateVersion: d.stateVersion,
            reason: d.error?.message,
          };
          if (d.status !== 'succeeded' && d.status !== 'no_changes')
            problems.push(`rollback of ${s.stack} ended ${d.status}`);
          event(problems.length ? 'warn' : 'info', `${s.stack}: rollback ${d.status}`);
        },
        () => false,
        () => undefined,
      );
    }
    return problems.length ? { code: 'RELEASE_ROLLBACK_INCOMPLETE', message: problems.join('; ') } : undefined;
  }

  const failedError = (): RunError => {
    const s = stackOf.get(stoppedBy!)!;
    return {
      code: 'RELEASE_STACK_FAILED',
      message: `${s.stack} ${s.status}${s.error ? `: ${s.error.code}: ${s.error.message}` : ''}`,
    };
  };

  try {
    if (gated || input.dryRun) {
      setStatus('planning', 'planning every stack (dry runs, in wave order)');
      if (!(await runPhase('plan'))) {
        r.error = failedError();
        finish('failed', `planning failed: ${r.error.message}`);
        return r;
      }
      r.planHash = releaseDigest(r.stacks.map((s) => `${s.stack}:${s.plan?.planHash ?? 'no-changes'}`));
      if (input.dryRun) {
        finish('planned', 'dry run: every stack planned, nothing applied');
        return r;
      }
      setStatus('awaiting_approval', `waiting for ${input.approvalPolicy.required} approval(s) of the whole release`);
      const outcome = await gate.waitForDecision(input.approvalPolicy, r.planHash);
      if (outcome === 'rejected') {
        finish('rejected', `rejected by ${r.rejection?.by}${r.rejection?.reason ? `: ${r.rejection.reason}` : ''}`);
        return r;
      }
      if (outcome === 'expired') {
        r.error = { code: 'APPROVAL_EXPIRED', message: 'no decision before the approval timeout' };
        finish('expired');
        return r;
      }
      for (const s of r.stacks) s.status = 'pending';
      // The approval may have taken days: what a rollback returns to is read again right before the apply.
      previous.clear();
    }
    setStatus('running');
    if (await runPhase('apply')) {
      finish('succeeded');
      return r;
    }
    r.error = failedError();
    if (input.onFailure === 'rollback') {
      const incomplete = await rollBack();
      if (incomplete) {
        r.error = { code: incomplete.code, message: `${r.error.message}; ${incomplete.message}` };
        finish('failed', `rollback incomplete: ${incomplete.message}`);
      } else {
        finish('rolled_back', `${r.error.message}; every stack this release changed is back at its previous version`);
      }
      return r;
    }
    finish('failed', r.error.message);
    return r;
  } catch (err) {
    if (isCancellation(err) || cancelled()) {
      await CancellationScope.nonCancellable(async () => {
        for (const s of r.stacks.filter((x) => x.status === 'pending')) {
          s.status = 'skipped';
          s.reason = 'not started: the release was cancelled';
        }
        r.error = { code: 'CANCELLED', message: 'release cancelled' };
        finish('cancelled', `cancelled while ${r.status}`);
      });
      return r;
    }
    r.error = failureOf(err);
    finish('failed', `${r.error.code}: ${r.error.message}`);
    return r;
  }
}
