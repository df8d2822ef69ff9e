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
  CancellationScope,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { PolicyReport } from '../contracts/policy';
import { releaseStatusQuery, type Release, type ReleaseInput, type ReleaseStatus } from '../contracts/release';
import { TERMINAL_STATUSES } from '../contracts/runs';
import { StatusKey } from '../shared/search-attributes';
import { ApprovalGate } from './approval-gate';
import { failureOf } from './failure';
import { PolicyGate } from './policy-gate';
import { ReleaseRunner } from './release-runner';
import { highestRisk, releaseCost, releaseDigest, releaseImpact, releasePolicy } from './release-steps';

const MAX_EVENTS = 300;

/** Runs a release to its end and returns the final `Release`. */
export async function releaseWorkflow(input: ReleaseInput): Promise<Release> {
  const now = () => new Date().toISOString();
  const gated = input.approval === 'release' && input.approvalPolicy.required > 0;
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

  const runner = new ReleaseRunner({
    input,
    release: r,
    gate,
    now,
    event,
    setStatus,
    afterWave: summarize,
    reapprovalReport: (report) => (reapprovalReport = report),
  });

  try {
    if (gated || input.dryRun) {
      setStatus('planning', 'planning every stack (dry runs, in wave order)');
      if (!(await runner.runPhase('plan'))) {
        r.error = runner.failedError();
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
      runner.startApply();
    }
    setStatus('running');
    if (await runner.runPhase('apply')) {
      finish('succeeded');
      return r;
    }
    r.error = runner.failedError();
    if (input.onFailure === 'rollback') {
      setStatus('rolling_back', `rolling back what this release changed after ${runner.stoppedBy} failed`);
      const incomplete = await runner.rollBack();
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
    if (isCancellation(err) || runner.cancelled()) {
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
