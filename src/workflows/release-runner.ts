/**
 * A release's phases: its waves in order, each stack of a wave as a child deployment run (a dry run to plan, a real
 * one to apply), at most `maxParallel` at once, nothing new once a stack failed. It carries what one stack tells
 * the next (outputs, what the approved preview planned with) and passes the release's approval on to each run
 * whose plan is the one approved.
 */
import {
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  proxyActivities,
  startChild,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { IacActivities } from '../activities/iac';
import type { ReleaseActivities } from '../activities/release';
import { denialOf, type PolicyReport } from '../contracts/policy';
import {
  releaseRunId,
  type Release,
  type ReleaseInput,
  type ReleaseStack,
  type ReleaseStackPlan,
  type ReleaseStatus,
} from '../contracts/release';
import type { Deployment, DeploymentInput, RunError } from '../contracts/runs';
import type { ApprovalGate } from './approval-gate';
import { deploymentWorkflow } from './deployment';
import { failureOf } from './failure';
import { childOptions, delegatedPolicy, rollBackChanged } from './release-children';
import {
  boundedAll,
  changeSet,
  downstreamOf,
  planMismatch,
  previewInputs,
  wireInputs,
  type ApprovedPreview,
  type KnownOutputs,
} from './release-steps';

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

/** A release plans every stack (dry runs) before one approval, then applies them. */
export type Phase = 'plan' | 'apply';

/** The release's view, gate and record keeping, as the runner uses them. */
export interface ReleaseRunnerOptions {
  input: ReleaseInput;
  /** The release view the workflow publishes; the runner updates its stacks. */
  release: Release;
  /** The release's approval gate, reopened when a run's plan changed since the release was approved. */
  gate: ApprovalGate;
  now: () => string;
  event: (level: 'info' | 'warn' | 'error', message: string) => void;
  setStatus: (status: ReleaseStatus, message?: string) => void;
  /** Called after each wave, so the release's risk, cost, policy and impact follow its stacks. */
  afterWave: () => void;
  /** The findings the release's policy gate judges while one stack's changed plan waits for approval. */
  reapprovalReport: (report: PolicyReport | undefined) => void;
}

/** Runs a release's waves and keeps what its stacks hand each other. */
export class ReleaseRunner {
  /** The stack whose failure stopped the release. */
  stoppedBy?: string;
  private readonly stackOf: Map<string, ReleaseStack>;
  private readonly plans: Map<string, ReleaseStackPlan>;
  /** What each stack's preview planned with, and what the release approval therefore covers. */
  private readonly previews = new Map<string, ApprovedPreview>();
  /** Outputs of stacks applied in this release, for their dependents' variables. */
  private readonly outputs = new Map<string, Record<string, unknown>>();
  private readonly knownOutputs = new Map<string, KnownOutputs>();
  private readonly previous = new Map<string, { version: number; outputs: Record<string, unknown> } | undefined>();

  constructor(private readonly o: ReleaseRunnerOptions) {
    this.stackOf = new Map(o.release.stacks.map((s) => [s.stack, s]));
    this.plans = new Map(o.input.stacks.map((p) => [p.stack, p]));
  }

  private get gated(): boolean {
    return this.o.input.approval === 'release' && this.o.input.approvalPolicy.required > 0;
  }

  /** True once the release is being cancelled. */
  cancelled(): boolean {
    return CancellationScope.current().consideredCancelled;
  }

  /** Every wave in order; false when a stack did not succeed (the stacks never started are skipped). */
  async runPhase(phase: Phase): Promise<boolean> {
    for (const wave of this.o.input.waves) {
      await boundedAll(
        wave.map((name) => this.plans.get(name)!),
        this.o.input.maxParallel,
        async (plan) => {
          if (!(await this.runStack(plan, phase))) this.stoppedBy ??= plan.stack;
        },
        () => this.stoppedBy !== undefined || this.cancelled(),
        (plan) => this.skip(this.stackOf.get(plan.stack)!),
      );
      this.o.afterWave();
    }
    return this.stoppedBy === undefined;
  }

  /** Between the preview and the apply: the approval may have taken days, so versions are read again. */
  startApply(): void {
    for (const s of this.o.release.stacks) s.status = 'pending';
    this.previous.clear();
  }

  /** Rolls back what the release changed (onFailure: rollback). */
  rollBack(): Promise<RunError | undefined> {
    const { input, now, event } = this.o;
    return rollBackChanged({ input, stackOf: this.stackOf, plans: this.plans, failed: this.stoppedBy!, now, event });
  }

  /** The release's error: the stack that stopped it, and how. */
  failedError(): RunError {
    const s = this.stackOf.get(this.stoppedBy!)!;
    return {
      code: 'RELEASE_STACK_FAILED',
      message: `${s.stack} ${s.status}${s.error ? `: ${s.error.code}: ${s.error.message}` : ''}`,
    };
  }

  private async previousOf(stack: string) {
    if (!this.previous.has(stack)) {
      const v = await store.latestVersion({ stack, environment: this.o.input.environment });
      this.previous.set(stack, v && v.kind !== 'destroy' ? { version: v.version, outputs: v.outputs } : undefined);
    }
    return this.previous.get(stack);
  }

  private skip(s: ReleaseStack): void {
    // A cancelled release marks what it never started once it stops.
    if (this.cancelled()) return;
    const failed = this.stoppedBy;
    s.status = 'skipped';
    s.reason =
      failed && downstreamOf(failed, this.o.input.edges).has(s.stack)
        ? `not started: it depends on ${failed}, which failed`
        : `not started: the release stopped after ${failed} failed`;
    this.o.event('warn', `${s.stack}: ${s.reason}`);
  }

  /** One stack in one phase, start to end; false when it did not succeed. */
  private async runStack(plan: ReleaseStackPlan, phase: Phase): Promise<boolean> {
    const { input, event, now } = this.o;
    const s = this.stackOf.get(plan.stack)!;
    const prev = await this.previousOf(plan.stack);
    if (phase === 'apply') s.previousVersion = prev?.version;
    let variables: Record<string, unknown>;
    if (phase === 'plan') {
      const wired = previewInputs(plan, this.knownOutputs);
      variables = wired.variables;
      s.knownAfterApply = wired.unknown.length ? wired.unknown : undefined;
    } else {
      const wired = wireInputs(plan, this.outputs);
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
      approvalPolicy: phase === 'apply' && this.gated ? delegatedPolicy(input) : plan.run.approvalPolicy,
      releaseId: input.id,
      createdAt: now(),
    };
    const summary = `${phase === 'plan' ? 'plan' : 'deploy'} ${plan.stack} → ${input.environment} (release ${input.name ?? input.id})`;
    const handle = await startChild(deploymentWorkflow, childOptions(input.id, run, summary));
    if (phase === 'plan') s.previewRunId = runId;
    else s.runId = runId;
    s.status = phase === 'plan' ? 'planning' : 'queued';
    event('info', `${s.stack}: ${phase === 'plan' ? 'planning' : 'deploying'} as run ${runId}`);

    let d: Deployment;
    try {
      if (phase === 'apply' && this.gated) await this.passApprovalOn(s, runId, variables);
      d = await handle.result();
      // A run cancelled with the release ends normally, as `cancelled`: the release stops here too.
      if (this.cancelled()) {
        s.status = d.status;
        throw new CancelledFailure('release cancelled');
      }
    } catch (err) {
      if (isCancellation(err) || this.cancelled()) {
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
    const ended = `${s.stack}: ${d.status}${d.error ? ` (${d.error.code}: ${d.error.message})` : ''}`;
    if (phase === 'plan') {
      this.previews.set(plan.stack, {
        changes: d.plan ? changeSet(d.plan) : [],
        variables,
        unknown: s.knownAfterApply ?? [],
      });
      this.knownOutputs.set(plan.stack, {
        values: prev?.outputs ?? {},
        changing: d.status === 'no_changes' ? new Set() : d.plan?.outputChanges ? new Set(d.plan.outputChanges) : 'all',
      });
      const ok = d.status === 'planned' || d.status === 'no_changes';
      if (!ok) event('error', `plan of ${ended}`);
      return ok;
    }
    s.applyStartedAt = d.applyStartedAt;
    s.applyCompletedAt = d.applyCompletedAt;
    s.stateVersion = d.stateVersion;
    if (d.status === 'succeeded') this.outputs.set(plan.stack, d.outputs);
    else if (d.status === 'no_changes') this.outputs.set(plan.stack, prev?.outputs ?? {});
    s.outputs = this.outputs.get(plan.stack);
    const ok = d.status === 'succeeded' || d.status === 'no_changes';
    event(ok ? 'info' : 'error', ended);
    return ok;
  }

  /**
   * The release approval covers a run whose plan is the one previewed; the release then approves the run as
   * itself. A plan that changed, or that a policy now denies, goes back to the release's approvers first.
   */
  private async passApprovalOn(s: ReleaseStack, runId: string, variables: Record<string, unknown>): Promise<void> {
    const { input, release: r, gate, event, setStatus } = this.o;
    const d = await watch.awaitRunStatus({ runId, statuses: ['awaiting_approval'] });
    if (d.status !== 'awaiting_approval' || !d.plan) return;
    const preview = this.previews.get(s.stack);
    const denial = denialOf(d.plan.policy);
    const mismatch =
      (preview ? planMismatch(preview, d.plan, variables) : 'the stack was not planned with the release') ??
      (denial && !r.policyOverride ? denial : undefined);
    const approvers = () => r.approvals.map((a) => a.by).join(', ');
    const approvedBy = approvers();
    if (mismatch) {
      // One question at a time: the gate holds one plan.
      await condition(() => r.reapproval === undefined);
      r.reapproval = { stack: s.stack, reason: mismatch };
      this.o.reapprovalReport(d.plan.policy);
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
      setStatus('running', `${s.stack}: changed plan approved by ${approvers()}`);
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
        comment: `approved with release ${input.id} by ${mismatch ? approvers() : approvedBy}`,
      });
      event('info', `${s.stack}: approval passed on to run ${runId}`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const e = failureOf(err);
      // The run stays awaiting approval, visible, until someone decides on it or the release is cancelled.
      event('error', `${s.stack}: the run refused the release's approval: ${e.code}: ${e.message}`);
    }
  }
}
