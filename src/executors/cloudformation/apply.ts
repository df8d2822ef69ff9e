/**
 * Apply: execute exactly the planned change set (or delete the stack for a destroy plan) and wait for the stack to
 * settle. CloudFormation runs the operation itself, so an attempt that dies while it runs loses nothing: the state
 * records which change set is being executed before it is executed, and the next attempt (on any worker) asks
 * CloudFormation how far it got instead of executing anything again.
 */
import { loadApprovedPlan } from '../approved-plan';
import {
  CancelUpdateStackCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  ExecuteChangeSetCommand,
  type CloudFormationClient,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import { acquireApplyLease, type HeldLease } from '../apply-lease';
import type { ApplyResult, ExecutorContext, PlanSummary, StackSpec } from '../types';
import {
  baselineOf,
  describeStack,
  outputsOf,
  recentEvents,
  sameBaseline,
  SETTLED,
  sleep,
  stackResources,
  SUCCEEDED,
  targetOf,
  type CfnTarget,
} from './aws';
import { failure, type CfnPlanDocument, type CfnState } from './model';
import { loadState, persistState } from './state';

async function fetchPlan(plan: PlanSummary, ctx: ExecutorContext): Promise<CfnPlanDocument> {
  const bytes = await loadApprovedPlan(plan, ctx);
  const doc = JSON.parse(bytes.toString('utf8')) as CfnPlanDocument;
  if (doc.format !== 'strata-cfn-plan/1' || doc.stack !== ctx.stack || doc.environment !== ctx.environment) {
    throw failure(
      ErrorCode.VALIDATION_FAILED,
      `${plan.planRef} is not a CloudFormation plan for ${ctx.stack}/${ctx.environment}`,
    );
  }
  return doc;
}

/** Applies the saved plan under the stack/environment's apply lease. */
export async function applyPlan(
  spec: StackSpec,
  plan: PlanSummary,
  ctx: ExecutorContext,
  cfnFor: (t: CfnTarget) => CloudFormationClient,
  opts: { pollMs?: number; timeoutMs?: number } = {},
): Promise<ApplyResult> {
  const lease = await acquireApplyLease(ctx);
  try {
    return await applyLeased(spec, plan, ctx, cfnFor, lease, opts);
  } finally {
    await lease.release('state-stored').catch((e: unknown) => {
      ctx.log({ level: 'warn', message: `could not release the apply lease (it expires): ${String(e)}` });
    });
  }
}

async function applyLeased(
  spec: StackSpec,
  plan: PlanSummary,
  ctx: ExecutorContext,
  cfnFor: (t: CfnTarget) => CloudFormationClient,
  lease: HeldLease,
  opts: { pollMs?: number; timeoutMs?: number },
): Promise<ApplyResult> {
  const started = Date.now();
  const doc = await fetchPlan(plan, ctx);
  const target = targetOf(spec);
  if (target.stackName !== doc.stackName || target.region !== doc.region) {
    throw failure(
      ErrorCode.PLAN_STALE,
      `the plan is for stack ${doc.stackName} in ${doc.region}, the config now names ${target.stackName} in ${target.region}: plan again`,
    );
  }
  const cfn = cfnFor(target);
  const state = await loadState(ctx);
  const m = state.applying;
  const resuming = m?.planHash === plan.planHash;
  if (!resuming && (state.serial !== doc.stateSerial || state.lineage !== doc.stateLineage)) {
    throw failure(
      ErrorCode.PLAN_STALE,
      `saved plan was made against state serial ${doc.stateSerial} (lineage ${doc.stateLineage || 'none'}), ` +
        `but the state is now at serial ${state.serial} (lineage ${state.lineage || 'none'}): plan again`,
      { planSerial: doc.stateSerial, stateSerial: state.serial },
    );
  }

  const stackNow = await describeStack(cfn, doc.baseline.stackId ?? doc.stackName);
  if (!resuming) {
    // The stack's last change moved since the plan (an update outside Strata, another tool, a deleted stack):
    // its change set no longer describes what executing it would do.
    const now = await baselineOf(cfn, stackNow);
    if (!sameBaseline(now, doc.baseline)) {
      throw failure(
        ErrorCode.PLAN_STALE,
        `stack ${doc.stackName} changed since the plan (planned against ${describe(doc.baseline)}, now ${describe(now)}): plan again`,
        { planned: doc.baseline, now },
      );
    }
  } else {
    ctx.log({
      level: 'warn',
      message: `resuming the apply of this plan started by run ${m!.runId}: asking CloudFormation how far it got`,
    });
  }

  if (!doc.changeSet && !doc.destroy) {
    ctx.log({ level: 'info', message: 'Apply complete! No changes.' });
    return result(state, started);
  }

  state.stackName = doc.stackName;
  state.region = doc.region;
  state.applying = {
    planHash: plan.planHash,
    runId: ctx.runId,
    changeSetId: doc.changeSet?.id ?? null,
    destroy: doc.destroy,
  };
  if (!resuming) await persistState(ctx, state);

  if (lease.lost()) {
    throw ApplicationFailure.create({
      type: ErrorCode.APPLY_HANDED_OVER,
      nonRetryable: false,
      message: `lost the apply lease of ${ctx.stack}/${ctx.environment} before executing the plan`,
    });
  }

  let stackId = doc.baseline.stackId ?? stackNow?.StackId ?? null;
  if (doc.destroy) {
    if (stackId) {
      ctx.log({ level: 'info', message: `deleting stack ${doc.stackName} (${doc.changes.length} resource(s))` });
      await cfn.send(new DeleteStackCommand({ StackName: stackId }));
    }
  } else {
    const cs = await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: doc.changeSet!.id }));
    stackId = cs.StackId ?? stackId;
    switch (cs.ExecutionStatus) {
      case 'AVAILABLE':
        ctx.log({ level: 'info', message: `executing change set ${doc.changeSet!.name} on ${doc.stackName}` });
        await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: doc.changeSet!.id }));
        break;
      case 'EXECUTE_IN_PROGRESS':
      case 'EXECUTE_COMPLETE':
      case 'EXECUTE_FAILED':
        // Only this plan's apply executes its change set: an earlier attempt did. Never execute it again.
        if (!resuming)
          throw failure(
            ErrorCode.PLAN_STALE,
            `change set ${doc.changeSet!.name} was already executed outside this apply (${cs.ExecutionStatus}): plan again`,
          );
        ctx.log({
          level: 'info',
          message: `change set ${doc.changeSet!.name} is ${cs.ExecutionStatus}; not executing it again`,
        });
        break;
      default:
        // OBSOLETE (the stack moved), UNAVAILABLE: CloudFormation refuses it, as Strata does.
        throw failure(
          resuming ? ErrorCode.APPLY_FAILED : ErrorCode.PLAN_STALE,
          `change set ${doc.changeSet!.name} is ${cs.ExecutionStatus ?? 'unknown'}${cs.StatusReason ? `: ${cs.StatusReason}` : ''}; plan again`,
        );
    }
  }

  const settled = stackId ? await waitSettled(cfn, stackId, doc, ctx, opts) : undefined;
  // Whatever the outcome, the state now records the stack as it is: state == reality before any error is raised.
  state.baseline = await baselineOf(cfn, settled);
  state.resources = settled?.StackId ? await stackResources(cfn, settled.StackId) : [];
  state.outputs = outputsOf(settled);
  delete state.applying;
  await persistState(ctx, state);

  const status = settled?.StackStatus ?? 'DELETE_COMPLETE';
  if (!SUCCEEDED.has(status)) {
    const reasons = stackId ? await failureReasons(cfn, stackId) : [];
    const message = `stack ${doc.stackName} ended ${status}${reasons.length ? `: ${reasons.join('; ')}` : ''}; state saved at serial ${state.serial}`;
    ctx.log({ level: 'error', message });
    const code = ctx.signal.aborted ? ErrorCode.APPLY_INTERRUPTED : ErrorCode.APPLY_FAILED;
    throw failure(code, message, { status, reasons, stateSerial: state.serial });
  }
  const n = (a: string) => doc.changes.filter((c) => c.action === a).length;
  ctx.log({
    level: 'info',
    message: `Apply complete! Resources: ${n('create') + n('replace')} added, ${n('update')} changed, ${n('delete') + n('replace')} destroyed (stack ${status}).`,
  });
  return result(state, started);
}

function result(state: CfnState, started: number): ApplyResult {
  return {
    outputs: state.outputs,
    resources: state.resources.map((r) => ({
      address: r.address,
      type: r.type,
      provider: 'aws',
      attributes: { physicalId: r.physicalId, status: r.status },
    })),
    stateSerial: state.serial,
    stateLineage: state.lineage,
    durationMs: Date.now() - started,
  };
}

const describe = (b: CfnPlanDocument['baseline']) =>
  b.stackId ? `${b.status}, last event ${b.lastEventId ?? 'none'}` : 'no stack';

/**
 * Polls the stack until no operation is under way, logging new stack events. Only the run's own cancellation
 * cancels an update (CancelUpdateStack, which rolls it back); a worker shutting down hands the wait over to the
 * next attempt, since CloudFormation carries on without it.
 */
async function waitSettled(
  cfn: CloudFormationClient,
  stackId: string,
  doc: CfnPlanDocument,
  ctx: ExecutorContext,
  opts: { pollMs?: number; timeoutMs?: number },
): Promise<Stack | undefined> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
  const seen = new Set<string>();
  let cancelAsked = false;
  for (let first = true; ; first = false) {
    const stack = await describeStack(cfn, stackId);
    for (const e of (await recentEvents(cfn, stackId).catch(() => [])).slice().reverse()) {
      if (!e.EventId || seen.has(e.EventId)) continue;
      seen.add(e.EventId);
      if (!first && e.LogicalResourceId && e.ResourceType !== 'AWS::CloudFormation::Stack') {
        ctx.log({
          level: /FAILED/.test(e.ResourceStatus ?? '') ? 'error' : 'info',
          message: `${e.LogicalResourceId}: ${e.ResourceStatus}${e.ResourceStatusReason ? ` (${e.ResourceStatusReason})` : ''}`,
          resource: e.LogicalResourceId,
        });
      }
    }
    if (!stack || SETTLED.test(stack.StackStatus ?? '')) return stack;
    if (Date.now() > deadline)
      throw failure(ErrorCode.APPLY_FAILED, `stack ${doc.stackName} still ${stack.StackStatus} at the deadline`);
    if (ctx.signal.aborted) {
      if (!(ctx.cancelledByRun?.() ?? true)) {
        throw ApplicationFailure.create({
          type: ErrorCode.APPLY_HANDED_OVER,
          nonRetryable: false,
          message: `the worker is stopping while ${doc.stackName} is ${stack.StackStatus}; the next attempt waits for CloudFormation to finish`,
        });
      }
      if (!cancelAsked && stack.StackStatus === 'UPDATE_IN_PROGRESS') {
        cancelAsked = true;
        ctx.log({
          level: 'warn',
          message: `apply cancelled: asking CloudFormation to cancel the update of ${doc.stackName} (it rolls back)`,
        });
        await cfn.send(new CancelUpdateStackCommand({ StackName: stackId })).catch(() => undefined);
      }
    }
    ctx.heartbeat({ phase: 'stack-operation', status: stack.StackStatus });
    await sleep(opts.pollMs ?? 1000, ctx.signal.aborted ? new AbortController().signal : ctx.signal);
  }
}

async function failureReasons(cfn: CloudFormationClient, stackId: string): Promise<string[]> {
  const events = await recentEvents(cfn, stackId).catch(() => []);
  return events
    .filter((e) => /FAILED/.test(e.ResourceStatus ?? '') && e.ResourceStatusReason)
    .slice(0, 5)
    .map((e) => `${e.LogicalResourceId}: ${e.ResourceStatusReason}`);
}
