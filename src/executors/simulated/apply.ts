/**
 * Apply: exactly the saved plan, change by change. After each change the simulated cloud is written first
 * and the state second, so a crash in between leaves a resource the cloud has and the state lacks; the next
 * attempt finds it under its deterministic id and adopts it instead of creating a duplicate.
 */
import { loadApprovedPlan } from '../approved-plan';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import type { ApplyResult, ExecutorContext, PlanSummary, StackSpec } from '../types';
import { acquireApplyLease, type HeldLease } from '../apply-lease';
import { injectDrift } from './drift';
import { failure } from './failures';
import { type PlanDocument, type PlannedChange } from './model';
import { computeOutputs, toStateResources } from './outputs';
import { DONE, perform } from './perform';
import { loadState, persistState } from './persistence';
import type { SimDeps } from './plan';
import { availability } from './providers';

/**
 * Shorter than a tool's lease: renewed in this process (no watchdog, no tool to stop), and a retry after a crash
 * waits it out on top of the heartbeat timeout (waiters read the TTL from the lease itself).
 */
const SIM_LEASE_TTL_MS = 10_000;

const ING = { create: 'Creating', update: 'Modifying', replace: 'Replacing', delete: 'Destroying' } as const;

/** Resolves after `ms`, or as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

async function fetchPlan(plan: PlanSummary, ctx: ExecutorContext): Promise<PlanDocument> {
  const bytes = await loadApprovedPlan(plan, ctx);
  const doc = JSON.parse(bytes.toString('utf8')) as PlanDocument;
  if (doc.format !== 'strata-sim-plan/1' || doc.stack !== ctx.stack || doc.environment !== ctx.environment) {
    throw failure(
      ErrorCode.VALIDATION_FAILED,
      `${plan.planRef} is not a simulated-cloud plan for ${ctx.stack}/${ctx.environment}`,
    );
  }
  return doc;
}

/**
 * Applies the saved plan under the stack/environment's apply lease (see executors/apply-lease.ts): an attempt
 * still running on a worker that lost touch with Temporal, while its retry starts elsewhere, stops at its next
 * change once the lease is gone, and the retry waits for it meanwhile. The lease never enters the 'tool' phase:
 * every change is in the state the moment it is made, so a lease that runs out hides nothing.
 */
export async function applyPlan(
  spec: StackSpec,
  plan: PlanSummary,
  ctx: ExecutorContext,
  deps: SimDeps,
  opts: { leaseTtlMs?: number } = {},
): Promise<ApplyResult> {
  const lease = await acquireApplyLease(ctx, { ttlMs: opts.leaseTtlMs ?? SIM_LEASE_TTL_MS });
  try {
    return await applyLeased(plan, ctx, deps, lease);
  } finally {
    await lease.release('state-stored').catch((e: unknown) => {
      ctx.log({ level: 'warn', message: `could not release the apply lease (it expires): ${String(e)}` });
    });
  }
}

async function applyLeased(
  plan: PlanSummary,
  ctx: ExecutorContext,
  deps: SimDeps,
  lease: HeldLease,
): Promise<ApplyResult> {
  const started = Date.now();
  const doc = await fetchPlan(plan, ctx);
  const state = await loadState(ctx);
  const m = state.applying;
  const resuming =
    m?.planHash === plan.planHash && m.baseSerial === doc.stateSerial && m.baseLineage === doc.stateLineage;
  if (!resuming && (state.serial !== doc.stateSerial || state.lineage !== doc.stateLineage)) {
    throw failure(
      ErrorCode.PLAN_STALE,
      `saved plan was made against state serial ${doc.stateSerial} (lineage ${doc.stateLineage || 'none'}), ` +
        `but the state is now at serial ${state.serial} (lineage ${state.lineage || 'none'}): plan again`,
      {
        planSerial: doc.stateSerial,
        planLineage: doc.stateLineage,
        stateSerial: state.serial,
        stateLineage: state.lineage,
      },
    );
  }
  const cloud = deps.cloud(ctx);
  const reality = await cloud.read(ctx.stack, ctx.environment);
  const isAvailable = availability(doc.faults, deps.isProviderAvailable);
  const total = doc.changes.length;
  const applied: string[] = [];
  const remaining = () => doc.changes.slice(applied.length).map((c) => c.address);

  if (resuming)
    ctx.log({
      level: 'warn',
      message: `resuming the unfinished apply of this plan (run ${m!.runId}); finished changes are adopted, not repeated`,
    });
  state.applying = {
    planHash: plan.planHash,
    runId: ctx.runId,
    baseSerial: doc.stateSerial,
    baseLineage: doc.stateLineage,
  };
  await persistState(ctx, state);

  const stop = async (type: ErrorCode, message: string): Promise<never> => {
    // The state already holds every finished change (persisted per change); say exactly what happened.
    const done = applied.length ? applied.join(', ') : 'nothing';
    const full = `${message}; applied ${applied.length} of ${total} change(s): ${done}; state saved at serial ${state.serial}`;
    ctx.log({ level: 'error', message: full });
    throw failure(type, full, {
      applied,
      remaining: remaining(),
      stateSerial: state.serial,
      stateLineage: state.lineage,
    });
  };

  // Only the run's own cancellation ends the apply. A worker shutting down stops it between two changes (every
  // finished one is in the state) with a retryable failure: the next attempt, on any worker, resumes this very
  // plan from its marker above. The apply runs in this process, so it cannot outlive it the way a tool can.
  const cancelled = async (message: string): Promise<never> => {
    if (ctx.cancelledByRun?.() ?? true) return stop(ErrorCode.APPLY_INTERRUPTED, message);
    const full = `the worker is stopping: ${message}; applied ${applied.length} of ${total} change(s), the next attempt resumes the rest`;
    ctx.log({ level: 'warn', message: full });
    throw ApplicationFailure.create({
      type: ErrorCode.APPLY_HANDED_OVER,
      nonRetryable: false,
      message: full,
      details: [{ applied, remaining: remaining(), stateSerial: state.serial, stateLineage: state.lineage }],
    });
  };

  for (let i = 0; i < total; i++) {
    const c = doc.changes[i];
    if (ctx.signal.aborted) await cancelled(`apply cancelled before ${c.address}`);
    if (lease.lost()) {
      // Someone else took the lease over (this attempt was given up on): every change so far is in the state.
      throw ApplicationFailure.create({
        type: ErrorCode.APPLY_HANDED_OVER,
        nonRetryable: false,
        message: `lost the apply lease before ${c.address}; applied ${applied.length} of ${total} change(s)`,
        details: [{ applied, remaining: remaining() }],
      });
    }
    if (!(await isAvailable(c.provider, c.region))) {
      await stop(
        ErrorCode.PROVIDER_UNAVAILABLE,
        `provider ${c.provider} (${c.region}) became unavailable at ${c.address}; plan again to fail over`,
      );
    }
    if (doc.faults.failApplyOnResource === i + 1) {
      await stop(ErrorCode.APPLY_FAILED, `${c.address}: injected failure (fail_apply_on_resource = ${i + 1})`);
    }
    ctx.log({ level: 'info', message: `${c.address}: ${ING[c.action]}... (${c.reason})`, resource: c.address });
    ctx.heartbeat({ resource: c.address, done: i, total });
    const t0 = Date.now();
    await sleep(doc.faults.latencyMsPerResource, ctx.signal);
    if (ctx.signal.aborted)
      await cancelled(`apply cancelled while ${ING[c.action].toLowerCase()} ${c.address} (not started in the cloud)`);
    const outcome = perform(c, state, reality, doc.providers[c.provider]?.dryRun ?? false);
    if (outcome.cloudChanged) await cloud.write(ctx.stack, ctx.environment, reality);
    await persistState(ctx, state);
    applied.push(`${DONE[c.action]} ${c.address}`);
    ctx.log({
      level: 'info',
      message: `${c.address}: ${outcome.message} after ${Date.now() - t0}ms`,
      resource: c.address,
    });
    ctx.heartbeat({ resource: c.address, done: i + 1, total });
  }

  const active = doc.provider
    ? { provider: doc.provider, region: doc.region!, dryRun: doc.providers[doc.provider]?.dryRun ?? false }
    : undefined;
  state.outputs = active ? computeOutputs(state.resources, active, doc.faults) : {};
  delete state.applying;
  await persistState(ctx, state);
  ctx.log({ level: 'info', message: `Apply complete! Resources: ${summarize(doc.changes)}.` });

  if (active && doc.faults.driftAfterApply) {
    for (const line of injectDrift(state, reality)) ctx.log({ level: 'warn', message: `drift_after_apply: ${line}` });
    await cloud.write(ctx.stack, ctx.environment, reality);
  }
  return {
    outputs: state.outputs,
    resources: toStateResources(state.resources),
    stateSerial: state.serial,
    stateLineage: state.lineage,
    durationMs: Date.now() - started,
  };
}

function summarize(changes: PlannedChange[]): string {
  const n = (a: string) => changes.filter((c) => c.action === a).length;
  return `${n('create') + n('replace')} added, ${n('update')} changed, ${n('delete') + n('replace')} destroyed`;
}
