/**
 * The release's children: how each stack's run is started (ids, search attributes, cancellation that lets a run
 * end cleanly), the approval a run gets when its release approves for it, and the rollback of what a failed
 * release changed, latest wave first.
 */
import {
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  startChild,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { ApprovalPolicy } from '../contracts/approval';
import {
  RELEASE_ROLE,
  releaseRunId,
  type ReleaseInput,
  type ReleaseStack,
  type ReleaseStackPlan,
} from '../contracts/release';
import { deploymentWorkflowId, type DeploymentInput, type RunError } from '../contracts/runs';
import { EnvironmentKey, KindKey, RequestedByKey, StackKey, StatusKey } from '../shared/search-attributes';
import { boundedAll } from './release-steps';
import { rollbackWorkflow } from './rollback';

/** Start options of a release's run: its own id and search attributes, so it reads like any run. */
export function childOptions(releaseId: string, run: DeploymentInput, summary: string) {
  return {
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
    memo: { stack: run.stack, environment: run.environment, kind: run.kind, requestedBy: run.requestedBy, releaseId },
    staticSummary: summary,
  };
}

/** A run whose approval its release gives: one approval, by the release's role only (or an admin). */
export function delegatedPolicy(input: ReleaseInput): ApprovalPolicy {
  return {
    required: 1,
    roles: [RELEASE_ROLE],
    fourEyes: false,
    timeoutMs: input.approvalPolicy.timeoutMs,
    signed: input.approvalPolicy.signed,
  };
}

/** What the rollback of a failed release needs from it. */
export interface RollbackContext {
  input: ReleaseInput;
  stackOf: Map<string, ReleaseStack>;
  plans: Map<string, ReleaseStackPlan>;
  /** The stack whose failure stopped the release. */
  failed: string;
  now: () => string;
  event: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/**
 * Re-applies the previous version of every stack the release changed, latest wave first, as high-priority
 * rollback runs. A stack the release created has no earlier version: it is left in place and reported.
 */
export async function rollBackChanged(ctx: RollbackContext): Promise<RunError | undefined> {
  const { input, stackOf, plans, failed, now, event } = ctx;
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
          reason: `release ${input.id}: ${failed} failed`,
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
            input.id,
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
