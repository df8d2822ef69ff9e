/**
 * Activities around the IaC executors. They take durable inputs (ids, the config snapshot and saved plan
 * references) so any worker can run any step, and they stream the tools' output to the run's log.
 */
import { activityInfo, cancellationSignal, Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode } from '../../shared/errors';
import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorContext,
  ExecutorKind,
  IacExecutor,
  PlanSummary,
  ResourceAction,
  StackSpec,
} from '../../executors/types';
import type { ArtifactStore } from '../../store/artifact-store';
import { driftReportKey } from '../../store/keys';
import type { RunLog } from '../../store/run-log';
import type { StateStore, StateVersion, StateVersionKind } from '../../store/state-store';
import { runHealthChecks, type HealthCheckInput } from './health-checks';
import { missingTofuTool } from '../../executors/tofu/tool-env';
import { awaitToolBuild, missingOpa } from '../../shared/tools';
import { shippedWasmJudges } from '../policy/wasm';
import { declaredVariables } from '../../shared/stack-variables';
import { isSecretRef } from '../../shared/secrets';
import {
  createRedactor,
  availableSecretValues,
  createSecretSource,
  redactDeep,
  redactError,
  resolveSecretVariables,
  type Redactor,
  type SecretSource,
} from './secrets';

export interface IacActivityDeps {
  config: StrataConfig;
  executors: Record<ExecutorKind, IacExecutor>;
  artifacts: ArtifactStore;
  state: StateStore;
  runLog: RunLog;
  /** Where `{ secret: NAME }` variables are resolved; default: `config.secrets` (secrets file, then environment). */
  secrets?: SecretSource;
}

export interface RunTarget {
  runId: string;
  stack: string;
  environment: string;
  variables: Record<string, unknown>;
}

/** A state version without the bulky state document, as workflows see it. */
export type StateVersionSummary = Omit<StateVersion, 'state'>;

/**
 * Whether this activity's cancellation is the run's own (the workflow cancelled it) rather than the worker's:
 * shutdown after shutdownGraceTime, a local timeout, the server no longer knowing the attempt, a pause or reset.
 * The SDK (1.24) says which in the cancellation details; the reason's name in the CancelledFailure (the abort
 * reason) covers a cancellation without details (the SDK's own at shutdown has none, and names WORKER_SHUTDOWN).
 */
function cancelledByRun(actx: Context): boolean {
  const d = actx.cancellationDetails;
  if (d?.cancelRequested) return true;
  if (d && (d.workerShutdown || d.timedOut || d.notFound || d.paused || d.reset)) return false;
  const reason: unknown = actx.cancellationSignal.reason;
  return reason instanceof Error && reason.message === 'CANCELLED';
}

function summarize(v: StateVersion): StateVersionSummary {
  const { state: _state, ...rest } = v;
  return rest;
}

/** What each approved action allows a resumed apply to still do to that resource. */
const RESUMABLE: Partial<Record<ResourceAction, ResourceAction[]>> = {
  // A create cut short can leave a tainted object, which the re-plan replaces.
  create: ['create', 'replace'],
  // A replacement cut short has done its delete, or its create, or neither.
  replace: ['replace', 'create', 'delete'],
  update: ['update'],
  delete: ['delete'],
};

/** The re-planned changes the approved plan does not cover, as `action address`. */
function outsideApproved(approved: PlanSummary, replanned: PlanSummary): string[] {
  const approvedAction = new Map(approved.resources.map((r) => [r.address, r.action]));
  return replanned.resources
    .filter((r) => r.action !== 'no-op' && r.action !== 'read')
    .filter((r) => {
      const a = approvedAction.get(r.address);
      return !(a && RESUMABLE[a]?.includes(r.action));
    })
    .map((r) => `${r.action} ${r.address}`);
}

/** Executors that run OpenTofu, which a fresh `npm start` may still be building in the background. */
const TOFU_KINDS: ReadonlySet<ExecutorKind> = new Set<ExecutorKind>(['tofu', 'cdktf']);

/**
 * Waits, heartbeating (so a cancel still arrives), while OpenTofu or its providers are still being built on this
 * worker, and says so in the run's log. Nothing missing, or nothing being built: returns at once, and the executor
 * reports a missing tool as it always has (TOOL_NOT_FOUND).
 */
function awaitTofu(ctx: ExecutorContext): Promise<void> {
  return awaitTool(
    ctx,
    () => missingTofuTool(),
    (tool) => (tool === 'tofu' ? 'OpenTofu' : 'the OpenTofu providers'),
  );
}

function awaitTool(ctx: ExecutorContext, missing: () => string | undefined, describe: (tool: string) => string) {
  return awaitToolBuild({
    missing,
    describe,
    signal: ctx.signal,
    onEvent: (message) => ctx.log({ level: 'info', message }),
    onTick: ({ waitingFor, waitedMs }) => ctx.heartbeat({ phase: 'waiting-for-tools', waitingFor, waitedMs }),
  });
}

/** Factory over injected executors and stores (no module-level singletons). */
export function createIacActivities(deps: IacActivityDeps) {
  const { config, executors, artifacts, state, runLog } = deps;
  const secrets = deps.secrets ?? createSecretSource(config.secrets);

  function spec(t: Omit<RunTarget, 'runId'>): StackSpec {
    const stack = config.stacks[t.stack];
    if (!stack) {
      throw ApplicationFailure.create({
        type: ErrorCode.STACK_NOT_FOUND,
        message: `unknown stack "${t.stack}"`,
        nonRetryable: true,
      });
    }
    return {
      stack: t.stack,
      environment: t.environment,
      executor: stack.executor,
      path: stack.path,
      variables: { ...stack.variables, ...t.variables },
      providers: config.providers as StackSpec['providers'],
      failoverOrder: stack.failoverOrder,
      aws: stack.aws,
      kubernetes: stack.kubernetes,
    };
  }

  function context(t: RunTarget, redact: Redactor = (m) => m, secretValues?: Record<string, string>): ExecutorContext {
    // Captured now: the abort listeners that ask run outside the activity's async context.
    const actx = Context.current();
    return {
      stack: t.stack,
      environment: t.environment,
      runId: t.runId,
      workDir: config.workDir,
      artifacts,
      state,
      // Every line the tool or an executor writes passes here: no secret value reaches the run log.
      log: (e) =>
        runLog.append(t.runId, [
          { ts: e.ts ?? new Date().toISOString(), level: e.level, message: redact(e.message), resource: e.resource },
        ]),
      heartbeat: (d) => heartbeat(d),
      signal: cancellationSignal(),
      cancelledByRun: () => cancelledByRun(actx),
      secretValues,
    };
  }

  /** Plain values given to variables the stack declares sensitive: redacted like secrets. */
  async function sensitiveValues(s: StackSpec): Promise<string[]> {
    const declared = await declaredVariables({ executor: s.executor, path: s.path });
    const out: string[] = [];
    for (const [name, v] of Object.entries(declared?.variables ?? {})) {
      const value = s.variables[name];
      if (!v.sensitive || value === undefined || value === null || isSecretRef(value)) continue;
      out.push(typeof value === 'string' ? value : JSON.stringify(value));
    }
    return out;
  }

  /**
   * Runs an executor call with the run's secrets resolved for it alone (SECRET_NOT_FOUND when one is missing) and
   * everything it lets out redacted: log lines, and the error that becomes workflow history.
   */
  async function withTool<T>(
    t: RunTarget,
    s: StackSpec,
    fn: (ctx: ExecutorContext, redact: Redactor) => Promise<T>,
    opts: { runsTool: boolean } = { runsTool: true },
  ): Promise<T> {
    // A step that runs no tool needs no secret, only to redact what it reads back (outputs): it does not fail on
    // a secret it cannot find.
    const secretValues = opts.runsTool
      ? resolveSecretVariables(s.variables, secrets)
      : availableSecretValues(s.variables, secrets);
    const redact = createRedactor([...Object.values(secretValues), ...(await sensitiveValues(s))]);
    try {
      const ctx = context(t, redact, opts.runsTool ? secretValues : undefined);
      if (opts.runsTool && TOFU_KINDS.has(s.executor)) await awaitTofu(ctx);
      return await fn(ctx, redact);
    } catch (err) {
      throw redactError(err, redact);
    }
  }

  const executorFor = (s: StackSpec) => executors[s.executor];

  /** applyRun's body, inside withTool. */
  async function applyWith(
    t: RunTarget & { plan: PlanSummary },
    s: StackSpec,
    ctx: ExecutorContext,
  ): Promise<ApplyResult & { resumed?: boolean }> {
    const exec = executorFor(s);
    const retry = activityInfo().attempt > 1;
    const movedByThisRun = async () => {
      const current = await state.getCurrentState(t.stack, t.environment);
      const moved = current && (current.serial !== t.plan.stateSerial || current.lineage !== t.plan.stateLineage);
      return Boolean(moved && current.updatedBy === t.runId);
    };
    const resume = async () => {
      ctx.log({
        level: 'warn',
        message: `resuming the apply interrupted by a worker failure (attempt ${activityInfo().attempt}): re-planning the approved configuration against the state it left`,
      });
      const replanned = t.plan.destroyPlan
        ? await exec.planDestroy(s, t.plan.config, ctx)
        : await exec.plan(s, t.plan.config, ctx);
      // What is left to do must be part of what was approved; anything else (drift meanwhile, a change no one
      // saw) needs a plan and an approval of its own.
      const unapproved = outsideApproved(t.plan, replanned);
      if (unapproved.length > 0) {
        throw ApplicationFailure.create({
          type: ErrorCode.PLAN_STALE,
          nonRetryable: true,
          message: `resuming the interrupted apply would need changes the approved plan does not contain (${unapproved.join(', ')}); plan again`,
          details: [{ unapproved }],
        });
      }
      const result = await exec.apply(s, replanned, ctx);
      return { ...result, resumed: true };
    };
    // Worth knowing before the apply: an executor that resumes the approved plan itself (the simulated cloud,
    // from its apply marker) then still reports the resumption.
    const resuming = retry && (await movedByThisRun());
    try {
      const result = await exec.apply(s, t.plan, ctx);
      return resuming ? { ...result, resumed: true } : result;
    } catch (err) {
      // A tool cannot resume a saved plan over the state it left (the tofu executor recovers that state from a
      // tool that outlived its attempt, then finds its plan stale because of this very run): re-plan the
      // approved configuration and apply what is left of it.
      if (retry && err instanceof ApplicationFailure && err.type === ErrorCode.PLAN_STALE && (await movedByThisRun()))
        return resume();
      throw err;
    }
  }

  return {
    /** Snapshots the stack's configuration (copy or synth) for this run; a rollback reuses the target version's snapshot. */
    async prepareRun(t: RunTarget & { fromVersion?: number }): Promise<ConfigSnapshot> {
      if (t.fromVersion !== undefined) {
        const v = await state.getVersion(t.stack, t.environment, t.fromVersion);
        if (!v) {
          throw ApplicationFailure.create({
            type: ErrorCode.STATE_VERSION_NOT_FOUND,
            message: `state version ${t.fromVersion} of ${t.stack}/${t.environment} is not retained`,
            nonRetryable: true,
          });
        }
        runLog.append(t.runId, [
          {
            ts: new Date().toISOString(),
            level: 'info',
            message: `restoring the configuration of version ${v.version} (${v.config.digest.slice(0, 12)})`,
          },
        ]);
        return { ...v.config, executor: v.config.executor as ExecutorKind };
      }
      const s = spec(t);
      return withTool(t, s, (ctx) => executorFor(s).prepare(s, ctx));
    },

    /** `readable`: someone reads the plan before it is applied, so the run log gets its human-readable diff. */
    async planRun(
      t: RunTarget & { config: ConfigSnapshot; destroy?: boolean; readable?: boolean },
    ): Promise<PlanSummary> {
      const s = spec({ ...t, variables: { ...t.config.variables, ...t.variables } });
      return withTool(t, s, async (c) => {
        const ctx = { ...c, readablePlan: t.readable };
        const plan = await (t.destroy
          ? executorFor(s).planDestroy(s, t.config, ctx)
          : executorFor(s).plan(s, t.config, ctx));
        // OPA judges the plan next (assessPlan), in a step with a 5-minute budget and no heartbeat: a build of OPA
        // still running on this worker is waited for here, where the plan's budget allows it. Not for the shipped
        // policies, which their compiled Wasm bundle judges meanwhile (policy/wasm.ts).
        if (config.policy.enabled)
          await awaitTool(
            ctx,
            () => (shippedWasmJudges(config.policy.dir) ? undefined : missingOpa()),
            () => 'OPA',
          );
        return plan;
      });
    },

    /**
     * Applies exactly the saved plan. After a worker crash the retried attempt may find the state already
     * moved by this very run's first attempt; then the approved change is resumed by re-planning the same
     * configuration (converging, never duplicating), which is logged. Any other state move is PLAN_STALE.
     */
    async applyRun(t: RunTarget & { plan: PlanSummary }): Promise<ApplyResult & { resumed?: boolean }> {
      const s = spec({ ...t, variables: { ...t.plan.config.variables, ...t.variables } });
      // Outputs become workflow history and the run's Deployment: a stack that echoes a secret (nonsensitive())
      // gets it redacted there.
      return withTool(t, s, async (ctx, redact) => {
        const result = await applyWith(t, s, ctx);
        return { ...result, outputs: redactDeep(result.outputs, redact) };
      });
    },

    async verifyRun(
      t: RunTarget & { config: ConfigSnapshot; checks: HealthCheckInput[]; outputs: Record<string, unknown> },
    ): Promise<void> {
      const s = spec({ ...t, variables: { ...t.config.variables, ...t.variables } });
      await withTool(t, s, (ctx) =>
        runHealthChecks(t.checks, t.outputs, ctx, async () => {
          const ex = executorFor(s);
          const p = ex.pendingChanges ? await ex.pendingChanges(s, t.config, ctx) : await ex.plan(s, t.config, ctx);
          return p.hasChanges ? `${p.add} to add, ${p.change} to change, ${p.destroy} to destroy` : undefined;
        }),
      );
    },

    async recordVersion(t: {
      runId: string;
      stack: string;
      environment: string;
      kind: StateVersionKind;
      plan: PlanSummary;
      restoredFrom?: number;
    }): Promise<StateVersionSummary> {
      const s = spec({ ...t, variables: t.plan.config.variables });
      const target = { ...t, variables: t.plan.config.variables };
      const { ctx, snap } = await withTool(
        target,
        s,
        async (c, redact) => {
          const snapshot = await executorFor(s).snapshotState(s, c);
          return { ctx: c, snap: { ...snapshot, outputs: redactDeep(snapshot.outputs, redact) } };
        },
        { runsTool: false },
      );
      const current = await state.getCurrentState(t.stack, t.environment);
      const v = await state.recordVersion({
        stack: t.stack,
        environment: t.environment,
        deploymentId: t.runId,
        kind: t.kind,
        planHash: t.plan.planHash,
        restoredFrom: t.restoredFrom,
        config: t.plan.config,
        outputs: snap.outputs,
        resources: snap.resources.map((r) => ({ address: r.address, type: r.type })),
        state: current?.body ?? '',
      });
      ctx.log({ level: 'info', message: `recorded state version ${v.version} (${t.kind})` });
      return summarize(v);
    },

    async latestVersion(t: { stack: string; environment: string }): Promise<StateVersionSummary | undefined> {
      const v = await state.latestVersion(t.stack, t.environment);
      return v ? summarize(v) : undefined;
    },

    /** Refresh-only plan of the current version's configuration against reality. */
    async scanDrift(t: {
      runId: string;
      stack: string;
      environment: string;
    }): Promise<DriftReport & { stack: string; environment: string; version?: number }> {
      const latest = await state.latestVersion(t.stack, t.environment);
      let report: DriftReport;
      if (!latest || latest.kind === 'destroy') {
        report = { scannedAt: new Date().toISOString(), drifted: false, resources: [] };
      } else {
        const config = { ...latest.config, executor: latest.config.executor as ExecutorKind };
        const s = spec({ ...t, variables: config.variables });
        report = await withTool({ ...t, variables: config.variables }, s, (ctx) =>
          executorFor(s).detectDrift(s, config, ctx),
        );
      }
      return { ...report, stack: t.stack, environment: t.environment, version: latest?.version };
    },

    /** Stores the scan's final report (with the remediation run, if one was started) for GET .../drift. */
    async saveDriftReport(r: DriftReport & { stack: string; environment: string }): Promise<void> {
      await artifacts.put(driftReportKey(r.stack, r.environment), JSON.stringify(r));
    },
  };
}

export type IacActivities = ReturnType<typeof createIacActivities>;
