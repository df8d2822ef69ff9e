/**
 * The OpenTofu/Terraform executor: runs the real CLI in a worker-local workspace rebuilt from durable
 * inputs (config snapshot and saved plan in the artifact store, state in the state store).
 */
import { loadApprovedPlan } from '../approved-plan';
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import { secretRefsOf, withoutSecretRefs } from '../../shared/secrets';
import { projectRoot } from '../../shared/tools';
import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorContext,
  ExecutorKind,
  IacExecutor,
  PendingChanges,
  PlanSummary,
  StackSpec,
  StateSnapshot,
} from '../types';
import { createApplyTracker } from './apply-log';
import { createPlanStream, driftedResources, parseState, summarizePlan, type PlanJson } from './plan-json';
import { runTool, waitForLeftTool, type RunToolResult } from './run-tool';
import { persistStateOut, recoverLeftState, writeStateIn } from './state-sync';
import type { WatchdogRequest } from './apply-watchdog';
import { watchdogEntry } from './watchdog-entry';
import { initCacheDir, restoreInit, saveInit } from './init-cache';
import { acquireApplyLease, type HeldLease } from '../apply-lease';
import { expectedOf } from '../../store/state-cas';
import type { ExpectedState } from '../../store/state-store';
import { resolveCliConfig, resolveTofuBin, toolEnv, type TofuToolOptions } from './tool-env';
import { collectStackFiles, materialize, sha256, storeSnapshot, workspaceDir, type ConfigDocument } from './workspace';

/** Holds the pid of a running apply in its workspace, for a retried attempt to find it (see run-tool.ts). */
const APPLY_PID_FILE = '.strata-apply.pid';
/** Written when the worker detached from a running apply: its watchdog then finishes it alone. */
const APPLY_DETACHED_FILE = '.strata-apply.detached';
const WATCHDOG_REQUEST_FILE = '.strata-watchdog.json';
const WATCHDOG_LOG_FILE = '.strata-watchdog.log';
/** The apply activity's startToCloseTimeout: a tool still running after it is stopped by its watchdog. */
const APPLY_MAX_MS = 2 * 60 * 60 * 1000;

/** What the apply lease is released with (or 'keep': left to a watchdog, or to expire). */
interface LeaseOutcome {
  release: 'no-tool' | 'state-stored' | 'state-unknown' | 'keep';
  stateSerial?: number;
}

/** The tool's own words when a saved plan was made against another state (local backend). */
const STALE_PLAN_MESSAGE = /Saved plan is stale/i;

function failure(type: ErrorCode, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message, details: details ? [details] : undefined });
}

/**
 * The worker is stopping (or lost the attempt) while the apply goes on: retryable, so the next attempt, on any
 * worker, takes the apply over instead of the run failing, and never with APPLY_INTERRUPTED.
 */
function handedOver(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorCode.APPLY_HANDED_OVER,
    nonRetryable: false,
    message,
    details: details ? [details] : undefined,
  });
}

/** Whether an abort of `ctx.signal` came from the run itself (see ExecutorContext.cancelledByRun). */
const cancelledByRun = (ctx: ExecutorContext): boolean => ctx.cancelledByRun?.() ?? true;

/** Last part of the tool's stderr: where its error diagnostics are. */
function diagnostics(res: RunToolResult): string {
  const text = res.stderr.trim() || res.stdout.toString('utf8').trim();
  return text.length > 4000 ? `…${text.slice(-4000)}` : text;
}

/** OpenTofu/Terraform CLI behind the IacExecutor interface. */
export class TofuExecutor implements IacExecutor {
  readonly kind: ExecutorKind = 'tofu';

  constructor(private readonly opts: TofuToolOptions = {}) {}

  async prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
    // Variables given by reference stay out of the snapshotted tfvars: the tool gets their values as TF_VAR_<name>.
    const doc: ConfigDocument = {
      version: 1,
      files: collectStackFiles(spec.path),
      tfvars: withoutSecretRefs(spec.variables),
      ...(Object.keys(secretRefsOf(spec.variables)).length > 0 ? { secrets: secretRefsOf(spec.variables) } : {}),
    };
    return this.prepareDocument(doc, this.kind, spec, ctx);
  }

  /** Stores a config document (from files, or from a synthesizer) and initializes a workspace from it. */
  async prepareDocument(
    doc: ConfigDocument,
    kind: ExecutorKind,
    spec: StackSpec,
    ctx: ExecutorContext,
  ): Promise<ConfigSnapshot> {
    const config = await storeSnapshot(doc, kind, spec.variables, ctx);
    await this.workspace(config, ctx);
    return config;
  }

  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return this.savedPlan(config, ctx, false);
  }

  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return this.savedPlan(config, ctx, true);
  }

  /**
   * A plan that is only read: `-detailed-exitcode` says whether anything is left to change (0 no, 2 yes) and the
   * plan's own JSON stream gives the counts. Nothing is written or stored, since this plan is never applied: no
   * plan file, no artifact, so the approved plan's artifact stays as it was.
   */
  async pendingChanges(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PendingChanges> {
    const dir = await this.workspace(config, ctx);
    await recoverLeftState(dir, ctx);
    await writeStateIn(dir, ctx);
    const stream = createPlanStream((level, message) => ctx.log({ level, message }));
    const res = await this.tool(
      ['plan', '-input=false', '-no-color', '-json', '-detailed-exitcode'],
      dir,
      ctx,
      'verify',
      {
        onStdoutLine: (line) => stream.onLine(line),
      },
    );
    const changed = res.code === 2 && !res.interrupted;
    if (!changed) {
      if (res.code !== 0 && stream.errors().length > 0 && !(res.interrupted && !res.timedOut))
        throw failure(ErrorCode.PLAN_FAILED, `verification plan failed: ${stream.errors().join('\n')}`);
      this.checkExit(res, ErrorCode.PLAN_FAILED, 'verification plan failed');
    }
    const counts = stream.counts();
    if (!counts) return { add: 0, change: 0, destroy: 0, hasChanges: changed };
    return {
      add: counts.add,
      change: counts.change,
      destroy: counts.destroy,
      hasChanges: changed || counts.hasChanges,
    };
  }

  async apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult> {
    const started = Date.now();
    // A worker shutdown must never end a run's apply (only the run's own cancellation may): the tool is left
    // running, never interrupted, and the attempt fails retryably, so the next attempt (on another worker, or
    // this one restarted) waits for the tool through its pid file and takes over the state it leaves. Waiting
    // here instead would hold a restart for as long as the apply takes (up to its 2 h timeout), and whatever
    // supervises the worker would SIGKILL it long before: the very same hand-over, only later and less tidy.
    const detachOnAbort = () => !cancelledByRun(ctx);
    if (ctx.signal.aborted) {
      if (detachOnAbort()) throw handedOver('the worker stopped before the tool started; nothing was applied yet');
      throw failure(ErrorCode.APPLY_INTERRUPTED, 'apply cancelled before the tool started; nothing was applied');
    }
    // Whoever runs a tool on this stack/environment holds its apply lease, on whatever machine: an apply left
    // running by a dead or stopped worker elsewhere is waited for here, never applied over (apply-lease.ts).
    const lease = await acquireApplyLease(ctx, { ttlMs: this.opts.leaseTtlMs });
    const outcome: LeaseOutcome = { release: 'no-tool' };
    try {
      return await this.applyLeased(plan, ctx, lease, outcome, started, detachOnAbort);
    } finally {
      lease.stopRenewing();
      // Kept when a tool goes on without us (its watchdog renews and releases it) or its state is not stored.
      if (outcome.release !== 'keep') {
        await lease.release(outcome.release, outcome.stateSerial).catch((e: unknown) => {
          ctx.log({ level: 'warn', message: `could not release the apply lease (it expires): ${String(e)}` });
        });
      }
    }
  }

  private async applyLeased(
    plan: PlanSummary,
    ctx: ExecutorContext,
    lease: HeldLease,
    outcome: LeaseOutcome,
    started: number,
    detachOnAbort: () => boolean,
  ): Promise<ApplyResult> {
    const dir = workspaceDir(ctx);
    const pidFile = path.join(dir, APPLY_PID_FILE);
    let recovered = false;
    if (fs.existsSync(dir)) {
      // An apply that outlived this run's stopped or killed worker finishes first; then its state is recovered.
      const left = await waitForLeftTool(pidFile, dir, {
        signal: ctx.signal,
        detachOnAbort,
        heartbeat: (h) => ctx.heartbeat({ phase: 'wait-left-apply', ...h }),
      });
      if (left.detached) {
        throw handedOver(`the worker stopped while waiting for the apply (pid ${left.pid}) an earlier attempt left`);
      }
      if (left.pid)
        ctx.log({
          level: 'warn',
          message: `waited for the apply (pid ${left.pid}) left running by an earlier attempt`,
        });
      recovered = await recoverLeftState(dir, ctx);
    }
    const prev = lease.previous;
    const unknown = prev && ((prev.expired && prev.phase === 'tool') || prev.released?.outcome === 'state-unknown');
    if (unknown && !recovered) {
      // A tool ran under that lease and nobody stored what it left (its machine died, or its store writes
      // failed): the state may lag reality. Applying now could create again what it created; say so instead.
      // This attempt ran no tool, and its release says just that, so the runs after it are not refused again.
      throw failure(
        ErrorCode.APPLY_INTERRUPTED,
        `the apply of run ${prev.runId} on ${prev.holder} (plan ${prev.planHash?.slice(0, 12) ?? '?'}) ended ` +
          `without the state it left being stored (${prev.expired ? 'its lease ran out' : 'its store write failed'}): ` +
          `resources it created may exist outside the state. Reconcile them (import, or remove them), then plan again`,
        { previousRun: prev.runId, previousHolder: prev.holder, planHash: prev.planHash },
      );
    }
    // Our own check first: it also covers a plan made on another worker, and a clear error beats the tool's.
    const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
    const serial = current?.serial ?? 0;
    const lineage = current?.lineage ?? '';
    if (serial !== plan.stateSerial || lineage !== plan.stateLineage) {
      throw failure(
        ErrorCode.PLAN_STALE,
        `plan ${plan.planHash.slice(0, 12)} was made against state serial ${plan.stateSerial} but the state is now ` +
          `at serial ${serial}${lineage !== plan.stateLineage ? ' (different lineage)' : ''}` +
          `${current?.updatedBy === ctx.runId ? ', moved by an earlier attempt of this run' : ''}; plan again`,
        {
          planSerial: plan.stateSerial,
          planLineage: plan.stateLineage,
          stateSerial: serial,
          stateLineage: lineage,
          updatedBy: current?.updatedBy,
        },
      );
    }
    const planBytes = await loadApprovedPlan(plan, ctx);
    await this.workspace(plan.config, ctx);
    const planFile = 'apply-plan.bin';
    fs.writeFileSync(path.join(dir, planFile), planBytes);
    const before = await writeStateIn(dir, ctx);

    const tracker = createApplyTracker(ctx);
    const detachedFile = path.join(dir, APPLY_DETACHED_FILE);
    fs.rmSync(detachedFile, { force: true });
    // Marked before runTool lets go, so the watchdog knows it is on its own whenever the tool exits.
    const detachFromTool = () => {
      if (!detachOnAbort()) return false;
      fs.writeFileSync(detachedFile, String(process.pid));
      return true;
    };
    await lease.markTool(plan.planHash);
    outcome.release = 'state-unknown';
    let res: RunToolResult | undefined;
    try {
      res = await this.tool(['apply', '-input=false', '-no-color', '-json', planFile], dir, ctx, 'apply', {
        pidFile,
        detachOnAbort: detachFromTool,
        watchdog: { lease, from: expectedOf(before), detachedFile },
        onStdoutLine: (line) => tracker.onLine(line),
        details: () => ({ lastResource: tracker.lastResource, inProgress: [...tracker.inProgress] }),
      });
    } finally {
      // Whatever happened (even a spawn failure), the store gets what the tool wrote. If the store is down,
      // the state stays in this workspace, where the retried attempt recovers it (recoverLeftState), so a
      // retryable error is right; a tool error already in flight takes precedence. A tool left running is
      // still writing its state: the attempt that takes it over persists it.
      if (!res?.detached) {
        const stored = await persistStateOut(dir, ctx, before).catch((e: unknown) => {
          // The state stays in this workspace and the lease says so: an attempt on this machine recovers the
          // state, one elsewhere learns that it is unknown (and never applies over it).
          outcome.release = 'state-unknown';
          ctx.log({ level: 'error', message: `could not persist state after apply: ${String(e)}` });
          if (res) throw e;
        });
        if (stored) Object.assign(outcome, { release: 'state-stored', stateSerial: stored.serial });
      }
    }
    if (!res) throw new Error('unreachable: the apply neither ran nor threw');
    if (res.detached) {
      // The watchdog takes it from here: it renews the lease, stores the state and releases the lease.
      outcome.release = 'keep';
      ctx.log({
        level: 'warn',
        message: `the worker is stopping: the apply (pid ${res.pid}) goes on for the next attempt`,
      });
      throw handedOver(
        `the worker stopped during the apply; the tool (pid ${res.pid}) goes on and the next attempt takes it over`,
        {
          pid: res.pid,
          lastResource: tracker.lastResource,
          completed: tracker.completed,
        },
      );
    }
    const after = parseState((await ctx.state.getCurrentState(ctx.stack, ctx.environment))?.body);
    const inState = after.resources.map((r) => r.address);
    const left = {
      resourcesInState: inState,
      // Started or finished by the tool but missing from the state it left (e.g. killed before it saved):
      // these may exist in the real world without Strata knowing. Surfaced, never swallowed.
      unrecorded: [...new Set([...tracker.inProgress, ...tracker.completed])].filter((a) => !inState.includes(a)),
      completed: tracker.completed,
      stateSerial: after.serial,
      forceKilled: res.forceKilled,
    };
    // An apply that finished just as the cancellation arrived is complete; report what is true.
    if (res.interrupted && res.code !== 0) {
      throw failure(
        ErrorCode.APPLY_INTERRUPTED,
        `apply interrupted (${res.forceKilled ? 'killed after the grace period' : 'stopped on SIGINT'}); ` +
          `${inState.length} resource(s) in state: ${inState.join(', ') || 'none'}` +
          (left.unrecorded.length ? `; may exist but are not in state: ${left.unrecorded.join(', ')}` : ''),
        left,
      );
    }
    if (res.code !== 0) {
      const errs = tracker.errors.length ? tracker.errors.join('\n') : diagnostics(res);
      if (STALE_PLAN_MESSAGE.test(errs)) throw failure(ErrorCode.PLAN_STALE, `the tool refused a stale plan: ${errs}`);
      throw failure(ErrorCode.APPLY_FAILED, `apply failed: ${errs}`, left);
    }
    return {
      outputs: after.outputs,
      resources: after.resources.map(({ address, type, provider }) => ({ address, type, provider })),
      stateSerial: after.serial,
      stateLineage: after.lineage,
      durationMs: Date.now() - started,
    };
  }

  async outputs(spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>> {
    return (await this.snapshotState(spec, ctx)).outputs;
  }

  async snapshotState(spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot> {
    const s = parseState((await ctx.state.getCurrentState(ctx.stack, ctx.environment))?.body);
    // Attributes stay out: snapshots travel through workflow history, which must stay small and secret-free.
    const resources = s.resources.map(({ address, type, provider }) => ({ address, type, provider }));
    return { serial: s.serial, lineage: s.lineage, resources, outputs: s.outputs };
  }

  async detectDrift(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport> {
    const scannedAt = new Date().toISOString();
    const dir = await this.workspace(config, ctx);
    await recoverLeftState(dir, ctx);
    const current = await writeStateIn(dir, ctx);
    if (!current) return { scannedAt, drifted: false, resources: [] };
    const planFile = 'drift.bin';
    const res = await this.tool(
      ['plan', '-refresh-only', '-input=false', '-no-color', `-out=${planFile}`],
      dir,
      ctx,
      'drift',
    );
    this.checkExit(res, ErrorCode.PLAN_FAILED, 'refresh-only plan failed');
    const resources = driftedResources(await this.showPlan(dir, planFile, ctx));
    return { scannedAt, drifted: resources.length > 0, resources };
  }

  private async savedPlan(config: ConfigSnapshot, ctx: ExecutorContext, destroy: boolean): Promise<PlanSummary> {
    const dir = await this.workspace(config, ctx);
    await recoverLeftState(dir, ctx);
    const state = await writeStateIn(dir, ctx);
    const planFile = destroy ? 'plan-destroy.bin' : 'plan.bin';
    fs.rmSync(path.join(dir, planFile), { force: true });
    // -json: the summary comes from the plan's own stream (no second process reading the plan back) and the run
    // log still gets the tool's human-readable lines.
    const args = ['plan', '-input=false', '-no-color', '-json', `-out=${planFile}`, ...(destroy ? ['-destroy'] : [])];
    const stream = createPlanStream((level, message) => ctx.log({ level, message }));
    const res = await this.tool(args, dir, ctx, destroy ? 'plan-destroy' : 'plan', {
      onStdoutLine: (line) => stream.onLine(line),
    });
    if (res.code !== 0 && stream.errors().length > 0 && !(res.interrupted && !res.timedOut))
      throw failure(ErrorCode.PLAN_FAILED, `plan failed: ${stream.errors().join('\n')}`);
    this.checkExit(res, ErrorCode.PLAN_FAILED, 'plan failed');
    const bytes = fs.readFileSync(path.join(dir, planFile));
    const planRef = await this.savePlan(planFile, bytes, ctx);
    const counts = stream.counts() ?? summarizePlan(await this.showPlan(dir, planFile, ctx));
    if (ctx.readablePlan) await this.logReadablePlan(dir, planFile, ctx);
    return {
      planRef,
      planHash: sha256(bytes),
      ...counts,
      destroyPlan: destroy,
      stateSerial: state?.serial ?? 0,
      stateLineage: state?.lineage ?? '',
      config,
    };
  }

  /**
   * Saves under `runs/<runId>/<planFile>`; a later, different plan of the same run (a verify re-plan, a
   * resumed apply) gets its own key, so the plan that was approved is never overwritten.
   */
  private async savePlan(planFile: string, bytes: Buffer, ctx: ExecutorContext): Promise<string> {
    const hash = sha256(bytes);
    const main = `runs/${ctx.runId}/${planFile}`;
    if (!(await ctx.artifacts.exists(main)) || sha256(await ctx.artifacts.get(main)) === hash) {
      await ctx.artifacts.put(main, bytes);
      return main;
    }
    const other = main.replace(/\.bin$/, `-${hash.slice(0, 16)}.bin`);
    await ctx.artifacts.put(other, bytes);
    return other;
  }

  /** The saved plan as the tool renders it for people (attributes and all), line by line into the run log. */
  private async logReadablePlan(dir: string, planFile: string, ctx: ExecutorContext): Promise<void> {
    const res = await this.tool(['show', '-no-color', planFile], dir, ctx, 'show', {
      onStdoutLine: (line) => ctx.log({ level: 'info', message: line }),
    });
    this.checkExit(res, ErrorCode.PLAN_FAILED, 'show of the saved plan failed');
  }

  private async showPlan(dir: string, planFile: string, ctx: ExecutorContext): Promise<PlanJson> {
    const res = await this.tool(['show', '-json', '-no-color', planFile], dir, ctx, 'show');
    this.checkExit(res, ErrorCode.PLAN_FAILED, 'show -json of the saved plan failed');
    return JSON.parse(res.stdout.toString('utf8')) as PlanJson;
  }

  private workspace(config: ConfigSnapshot, ctx: ExecutorContext): Promise<string> {
    return materialize(config, ctx, async (dir, files) => {
      const cache = initCacheDir(ctx, files, `${resolveTofuBin(this.opts)}\0${resolveCliConfig(this.opts) ?? ''}`);
      if (restoreInit(cache, dir)) return;
      const res = await this.tool(['init', '-input=false', '-no-color'], dir, ctx, 'init', {
        onStdoutLine: (line) => ctx.log({ level: 'debug', message: line }),
      });
      this.checkExit(res, ErrorCode.INIT_FAILED, 'init failed');
      saveInit(cache, dir);
    });
  }

  /** Cancellation outside apply changes nothing, so it is reported as a plain cancellation. */
  private checkExit(res: RunToolResult, type: ErrorCode, what: string): void {
    if (res.interrupted && !res.timedOut) throw new CancelledFailure(`${what}: cancelled`);
    if (res.code !== 0) throw failure(type, `${what}: ${diagnostics(res)}`);
  }

  private tool(
    args: string[],
    dir: string,
    ctx: ExecutorContext,
    phase: string,
    extra: {
      onStdoutLine?: (line: string) => void;
      details?: () => Record<string, unknown>;
      pidFile?: string;
      detachOnAbort?: () => boolean;
      /** Run the tool under the apply watchdog, which renews this lease (apply-watchdog.ts). */
      watchdog?: { lease: HeldLease; from: ExpectedState; detachedFile: string };
    } = {},
  ): Promise<RunToolResult> {
    const env = toolEnv(resolveCliConfig(this.opts), {
      stack: ctx.stack,
      environment: ctx.environment,
      dataDir: this.opts.dataDir ?? path.join(projectRoot, '.data'),
    });
    // Secrets reach the tool through its own environment only (and the watchdog's, which passes it on): never a
    // file in the workspace, never the snapshot. Set after toolEnv, which drops any inherited TF_VAR_*.
    for (const [name, value] of Object.entries(ctx.secretValues ?? {})) env[`TF_VAR_${name}`] = value;
    // The tool stores variable values in its saved plan, and the plan is an artifact: encrypted (OpenTofu's plan
    // encryption) whenever a secret went into it. An operator's own TF_ENCRYPTION is left alone.
    if (ctx.secretValues && Object.keys(ctx.secretValues).length > 0 && !env.TF_ENCRYPTION) {
      env.TF_ENCRYPTION = planEncryption(ctx.stack, ctx.environment, ctx.secretValues);
    }
    let bin = resolveTofuBin(this.opts);
    if (extra.watchdog) {
      const req: WatchdogRequest = {
        bin,
        args,
        stack: ctx.stack,
        environment: ctx.environment,
        runId: ctx.runId,
        token: extra.watchdog.lease.token,
        ttlMs: extra.watchdog.lease.ttlMs,
        graceMs: this.opts.graceMs ?? 10_000,
        maxMs: APPLY_MAX_MS,
        store: ctx.state.connection(),
        from: extra.watchdog.from,
        parentPid: process.pid,
        detachedFile: extra.watchdog.detachedFile,
        logFile: path.join(dir, WATCHDOG_LOG_FILE),
      };
      const requestFile = path.join(dir, WATCHDOG_REQUEST_FILE);
      fs.writeFileSync(requestFile, JSON.stringify(req));
      bin = process.execPath;
      args = [...watchdogEntry(), requestFile];
    }
    return runTool({
      bin,
      args,
      cwd: dir,
      env,
      signal: ctx.signal,
      graceMs: this.opts.graceMs,
      heartbeatMs: this.opts.heartbeatMs,
      heartbeat: ({ pid, elapsedMs }) => ctx.heartbeat({ phase, pid, elapsedMs, ...extra.details?.() }),
      onStdoutLine: extra.onStdoutLine,
      onStderrLine: (line) => ctx.log({ level: 'warn', message: line }),
      pidFile: extra.pidFile,
      detachOnAbort: extra.detachOnAbort,
      outlivesWorker: extra.watchdog !== undefined,
      trace: { tool: 'tofu', subcommand: phase },
    });
  }
}

/**
 * OpenTofu's encryption config for saved plans, keyed by a passphrase derived from the stack, the environment and the
 * secret values themselves: every worker that can resolve the run's secrets can read its plan, and nothing else is
 * needed to share. A secret rotated between plan and apply makes the approved plan unreadable, so it is never applied
 * with a value other than the one it was planned with. State is not encrypted here (the state store is its guard).
 */
export function planEncryption(
  stack: string,
  environment: string,
  secretValues: Readonly<Record<string, string>>,
): string {
  const material = Object.entries(secretValues)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('\0');
  const passphrase = sha256(`strata-plan-encryption/1\0${stack}\0${environment}\0${material}`);
  return [
    `key_provider "pbkdf2" "strata" {`,
    `  passphrase = "${passphrase}"`,
    `}`,
    `method "aes_gcm" "strata" {`,
    `  keys = key_provider.pbkdf2.strata`,
    `}`,
    `plan {`,
    `  method   = method.aes_gcm.strata`,
    `  enforced = true`,
    `}`,
  ].join('\n');
}

/** Creates the OpenTofu/Terraform executor. */
export function createTofuExecutor(opts: TofuToolOptions = {}): TofuExecutor {
  return new TofuExecutor(opts);
}
