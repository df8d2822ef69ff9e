/**
 * Helm charts behind the IacExecutor interface, through the helm CLI (scripts/get-helm.sh builds a pinned one).
 * The stack directory is a chart; the stack's variables are its values. The plan renders the release on the
 * server (`helm upgrade --install --dry-run=server`) and compares every object with the release's current
 * manifest; it records the release's revision, and the apply refuses the plan when the revision moved. The apply
 * runs the same upgrade for real and checks that helm rendered exactly the planned manifest.
 */
import { loadApprovedPlan } from '../approved-plan';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import YAML from 'yaml';
import { ErrorCode, StrataError } from '../../shared/errors';
import { traceTool } from '../../shared/telemetry';
import { acquireApplyLease } from '../apply-lease';
import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorContext,
  IacExecutor,
  PlanSummary,
  ResourceAction,
  StackSpec,
  StateSnapshot,
} from '../types';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const failure = (type: ErrorCode, message: string, details?: Record<string, unknown>) =>
  ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });

/** Options of the Helm executor. */
export interface HelmExecutorOptions {
  /** The helm binary (default: $HELM_BIN, else `helm` on PATH). */
  helmBin?: string;
}

interface HelmConfigDocument {
  format: 'strata-helm-config/1';
  stack: string;
  /** Chart files, path → base64. */
  files: Record<string, string>;
  values: Record<string, unknown>;
}

interface HelmChange {
  address: string;
  type: string;
  action: ResourceAction;
}

interface HelmPlanDocument {
  format: 'strata-helm-plan/1';
  stack: string;
  environment: string;
  runId: string;
  destroy: boolean;
  release: string;
  namespace: string;
  config: { ref: string; digest: string };
  /** The manifest helm rendered on the server for this plan. */
  manifest: string;
  changes: HelmChange[];
  /** The release's revision when planned (null: not installed). */
  baseRevision: number | null;
  stateSerial: number;
  stateLineage: string;
}

interface HelmState {
  format: 'strata-helm-state/1';
  serial: number;
  lineage: string;
  release: string;
  namespace: string;
  revision: number | null;
  objects: { address: string; type: string }[];
  outputs: Record<string, unknown>;
  applying?: { planHash: string; runId: string; baseRevision: number | null };
}

/** Objects of a rendered manifest by address `<kind>/<name>`, with their YAML as rendered. */
function objectsOf(manifest: string): Map<string, { type: string; text: string }> {
  const out = new Map<string, { type: string; text: string }>();
  for (const d of YAML.parseAllDocuments(manifest)) {
    const o = d.toJSON() as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | null;
    if (!o?.kind || !o.metadata?.name) continue;
    out.set(`${o.kind}/${o.metadata.name}`, { type: `${o.apiVersion}/${o.kind}`, text: JSON.stringify(o) });
  }
  return out;
}

class HelmExecutor implements IacExecutor {
  readonly kind = 'helm' as const;
  constructor(private readonly opts: HelmExecutorOptions) {}

  private target(spec: StackSpec) {
    const k = spec.kubernetes ?? {};
    const release = `${spec.stack}-${spec.environment}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 53);
    return { release, namespace: k.namespace ?? 'default', kubeconfig: k.kubeconfig, context: k.context };
  }

  private helm(
    spec: StackSpec,
    ctx: ExecutorContext,
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const t = this.target(spec);
    const bin = this.opts.helmBin ?? process.env.HELM_BIN ?? 'helm';
    const full = [
      ...args,
      '--namespace',
      t.namespace,
      ...(t.kubeconfig ? ['--kubeconfig', t.kubeconfig] : []),
      ...(t.context ? ['--kube-context', t.context] : []),
    ];
    // args[0] is always the subcommand this file names (upgrade, status, ...); values never go in the span.
    return traceTool(
      'helm',
      args[0],
      () => this.execHelm(bin, full, args, ctx),
      (r) => ({ exitCode: r.code }),
    );
  }

  private execHelm(
    bin: string,
    full: string[],
    args: string[],
    ctx: ExecutorContext,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        bin,
        full,
        {
          maxBuffer: 64 * 1024 * 1024,
          env: {
            ...process.env,
            HELM_CACHE_HOME: path.join(ctx.workDir, 'helm-cache'),
            HELM_CONFIG_HOME: path.join(ctx.workDir, 'helm-config'),
            HELM_DATA_HOME: path.join(ctx.workDir, 'helm-data'),
          },
        },
        (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
            return reject(
              failure(ErrorCode.TOOL_NOT_FOUND, `helm not found at ${bin}: run scripts/get-helm.sh and set HELM_BIN`),
            );
          }
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
      const beat = setInterval(() => ctx.heartbeat({ tool: 'helm', args: args[0] }), 5000);
      child.on('exit', () => clearInterval(beat));
    });
  }

  async prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
    const files: Record<string, string> = {};
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fs.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else files[path.relative(spec.path, p)] = (await fs.readFile(p)).toString('base64');
      }
    };
    await walk(spec.path);
    if (!files['Chart.yaml']) throw failure(ErrorCode.PLAN_FAILED, `${spec.path} is not a chart (no Chart.yaml)`);
    const doc: HelmConfigDocument = {
      format: 'strata-helm-config/1',
      stack: spec.stack,
      files,
      values: spec.variables ?? {},
    };
    const bytes = Buffer.from(JSON.stringify(doc, null, 2));
    const ref = `runs/${ctx.runId}/config.json`;
    await ctx.artifacts.put(ref, bytes);
    ctx.log({
      level: 'info',
      message: `captured chart ${spec.path} (${Object.keys(files).length} files), values ${Object.keys(doc.values).join(', ') || 'none'}`,
    });
    return { ref, digest: sha256(bytes), executor: 'helm', variables: doc.values };
  }

  /** Writes the snapshot's chart and values into a fresh directory of the run's workspace. */
  private async materialize(config: ConfigSnapshot, ctx: ExecutorContext): Promise<{ chart: string; values: string }> {
    const bytes = await ctx.artifacts.get(config.ref);
    if (sha256(bytes) !== config.digest)
      throw failure(ErrorCode.PLAN_FAILED, `config snapshot ${config.ref} does not match its digest`);
    const doc = JSON.parse(bytes.toString('utf8')) as HelmConfigDocument;
    const root = path.join(ctx.workDir, ctx.stack, ctx.environment, ctx.runId, `helm-${randomUUID().slice(0, 8)}`);
    const chart = path.join(root, 'chart');
    for (const [rel, b64] of Object.entries(doc.files)) {
      await fs.mkdir(path.dirname(path.join(chart, rel)), { recursive: true });
      await fs.writeFile(path.join(chart, rel), Buffer.from(b64, 'base64'));
    }
    const values = path.join(root, 'values.json');
    await fs.writeFile(values, JSON.stringify(doc.values));
    return { chart, values };
  }

  private async current(
    spec: StackSpec,
    ctx: ExecutorContext,
  ): Promise<{ revision: number; manifest: string } | undefined> {
    const t = this.target(spec);
    const st = await this.helm(spec, ctx, ['status', t.release, '-o', 'json']);
    if (st.code !== 0) {
      if (/not found/i.test(st.stderr)) return undefined;
      throw failure(ErrorCode.PLAN_FAILED, `helm status ${t.release}: ${st.stderr.trim()}`);
    }
    const rel = JSON.parse(st.stdout) as { version: number; info?: { status?: string }; manifest?: string };
    if (rel.info?.status === 'uninstalled') return undefined;
    if (rel.manifest === undefined) {
      const m = await this.helm(spec, ctx, ['get', 'manifest', t.release]);
      if (m.code !== 0) throw failure(ErrorCode.PLAN_FAILED, `helm get manifest ${t.release}: ${m.stderr.trim()}`);
      return { revision: rel.version, manifest: m.stdout };
    }
    return { revision: rel.version, manifest: rel.manifest };
  }

  private async loadState(ctx: ExecutorContext): Promise<HelmState> {
    const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
    if (!current)
      return {
        format: 'strata-helm-state/1',
        serial: 0,
        lineage: '',
        release: '',
        namespace: '',
        revision: null,
        objects: [],
        outputs: {},
      };
    const body = JSON.parse(current.body) as HelmState;
    if (body.format !== 'strata-helm-state/1')
      throw failure(
        ErrorCode.INTERNAL,
        `state of ${ctx.stack}/${ctx.environment} was not written by the Helm executor`,
      );
    return { ...body, serial: current.serial, lineage: current.lineage };
  }

  private async persistState(ctx: ExecutorContext, state: HelmState): Promise<void> {
    const expected = state.lineage ? { serial: state.serial, lineage: state.lineage } : ('absent' as const);
    const next = { ...state, serial: state.serial + 1, lineage: state.lineage || randomUUID() };
    try {
      await ctx.state.putCurrentState(
        ctx.stack,
        ctx.environment,
        { body: JSON.stringify(next), serial: next.serial, lineage: next.lineage, updatedBy: ctx.runId },
        expected,
      );
    } catch (err) {
      if (err instanceof StrataError && err.code === ErrorCode.STATE_CONFLICT)
        throw failure(ErrorCode.STATE_CONFLICT, err.message);
      throw err;
    }
    state.serial = next.serial;
    state.lineage = next.lineage;
  }

  private upgradeArgs(spec: StackSpec, chart: string, values: string, dryRun: boolean): string[] {
    const t = this.target(spec);
    // --reset-values: without it helm reuses the last release's values whenever the given ones are empty, so a
    // rollback to a version with default values would silently keep the newer version's values.
    return [
      'upgrade',
      '--install',
      t.release,
      chart,
      '-f',
      values,
      '--reset-values',
      '-o',
      'json',
      ...(dryRun ? ['--dry-run=server'] : []),
    ];
  }

  private async makePlan(
    spec: StackSpec,
    config: ConfigSnapshot,
    ctx: ExecutorContext,
    destroy: boolean,
  ): Promise<PlanSummary> {
    const t = this.target(spec);
    const state = await this.loadState(ctx);
    const cur = await this.current(spec, ctx);
    let manifest = '';
    if (!destroy) {
      const { chart, values } = await this.materialize(config, ctx);
      const r = await this.helm(spec, ctx, this.upgradeArgs(spec, chart, values, true));
      if (r.code !== 0) throw failure(ErrorCode.PLAN_FAILED, `helm upgrade --dry-run=server: ${r.stderr.trim()}`);
      manifest = (JSON.parse(r.stdout) as { manifest?: string }).manifest ?? '';
    }
    const before = objectsOf(cur?.manifest ?? '');
    const after = objectsOf(manifest);
    const changes: HelmChange[] = [];
    for (const [address, o] of after) {
      const was = before.get(address);
      changes.push({ address, type: o.type, action: !was ? 'create' : was.text === o.text ? 'no-op' : 'update' });
    }
    for (const [address, o] of before)
      if (!after.has(address)) changes.push({ address, type: o.type, action: 'delete' });
    const planDoc: HelmPlanDocument = {
      format: 'strata-helm-plan/1',
      stack: ctx.stack,
      environment: ctx.environment,
      runId: ctx.runId,
      destroy,
      release: t.release,
      namespace: t.namespace,
      config: { ref: config.ref, digest: config.digest },
      manifest,
      changes,
      baseRevision: cur?.revision ?? null,
      stateSerial: state.serial,
      stateLineage: state.lineage,
    };
    const bytes = Buffer.from(JSON.stringify(planDoc, null, 2));
    const planHash = sha256(bytes);
    const planRef = `runs/${ctx.runId}/plan-${planHash.slice(0, 16)}.json`;
    await ctx.artifacts.put(planRef, bytes);
    const real = changes.filter((c) => c.action !== 'no-op');
    for (const c of real) ctx.log({ level: 'info', message: `${c.action} ${c.address}`, resource: c.address });
    const n = (a: string) => real.filter((c) => c.action === a).length;
    // An upgrade with no object change still makes a revision; destroy of an installed release always has work.
    const hasChanges = real.length > 0 || (destroy && cur !== undefined);
    ctx.log({
      level: 'info',
      message: hasChanges
        ? `Plan: ${n('create')} to add, ${n('update')} to change, ${n('delete')} to destroy (release ${t.release}).`
        : `No changes. Release ${t.release} matches the chart.`,
    });
    return {
      planRef,
      planHash,
      add: n('create'),
      change: n('update'),
      destroy: n('delete'),
      hasChanges,
      destroyPlan: destroy,
      resources: real.map((c) => ({ address: c.address, type: c.type, action: c.action, provider: 'helm' })),
      stateSerial: state.serial,
      stateLineage: state.lineage,
      config,
    };
  }

  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return this.makePlan(spec, config, ctx, false);
  }

  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return this.makePlan(spec, config, ctx, true);
  }

  async apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult> {
    const lease = await acquireApplyLease(ctx);
    try {
      return await this.applyLeased(spec, plan, ctx);
    } finally {
      await lease.release('state-stored').catch(() => undefined);
    }
  }

  private async applyLeased(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult> {
    const started = Date.now();
    const bytes = await loadApprovedPlan(plan, ctx);
    const doc = JSON.parse(bytes.toString('utf8')) as HelmPlanDocument;
    const state = await this.loadState(ctx);
    const resuming = state.applying?.planHash === plan.planHash;
    if (!resuming && (state.serial !== doc.stateSerial || state.lineage !== doc.stateLineage)) {
      throw failure(
        ErrorCode.PLAN_STALE,
        `saved plan was made against state serial ${doc.stateSerial}, the state is now at ${state.serial}: plan again`,
      );
    }
    const cur = await this.current(spec, ctx);
    const now = cur?.revision ?? null;
    // A resumed apply whose upgrade already went through finds the release one revision on: it adopts it.
    const alreadyDone = resuming && now !== doc.baseRevision;
    if (!resuming && now !== doc.baseRevision) {
      throw failure(
        ErrorCode.PLAN_STALE,
        `release ${doc.release} is at revision ${now ?? 'none'}, the plan was made at ${doc.baseRevision ?? 'none'}: plan again`,
      );
    }
    if (!plan.hasChanges) return this.result(state, started);
    if (!resuming) {
      state.applying = { planHash: plan.planHash, runId: ctx.runId, baseRevision: doc.baseRevision };
      await this.persistState(ctx, state);
    }
    let manifest = '';
    if (alreadyDone) {
      ctx.log({
        level: 'warn',
        message: `release ${doc.release} is already at revision ${now}: the interrupted apply got through, adopting it`,
      });
      manifest = cur?.manifest ?? '';
    } else if (doc.destroy) {
      const r = await this.helm(spec, ctx, ['uninstall', doc.release]);
      if (r.code !== 0 && !/not found/i.test(r.stderr))
        throw failure(ErrorCode.APPLY_FAILED, `helm uninstall: ${r.stderr.trim()}`);
      ctx.log({ level: 'info', message: `release ${doc.release} uninstalled` });
    } else {
      const { chart, values } = await this.materialize(doc.config as ConfigSnapshot, ctx);
      const r = await this.helm(spec, ctx, this.upgradeArgs(spec, chart, values, false));
      if (r.code !== 0) {
        const after = await this.current(spec, ctx).catch(() => undefined);
        state.revision = after?.revision ?? null;
        delete state.applying;
        await this.persistState(ctx, state);
        throw failure(ErrorCode.APPLY_FAILED, `helm upgrade --install: ${r.stderr.trim()}`);
      }
      manifest = (JSON.parse(r.stdout) as { manifest?: string }).manifest ?? '';
      if (manifest !== doc.manifest) {
        ctx.log({
          level: 'warn',
          message: `helm rendered a different manifest than planned (a chart using lookup or random values?)`,
        });
      }
    }
    const rel = doc.destroy ? undefined : await this.current(spec, ctx);
    state.release = doc.release;
    state.namespace = doc.namespace;
    state.revision = rel?.revision ?? null;
    state.objects = [...objectsOf(manifest)].map(([address, o]) => ({ address, type: o.type }));
    state.outputs = rel ? { release: doc.release, namespace: doc.namespace, revision: rel.revision } : {};
    delete state.applying;
    await this.persistState(ctx, state);
    ctx.log({
      level: 'info',
      message: `Apply complete! release ${doc.release} ${rel ? `at revision ${rel.revision}` : 'uninstalled'}.`,
    });
    return this.result(state, started);
  }

  private result(state: HelmState, started: number): ApplyResult {
    return {
      outputs: state.outputs,
      resources: state.objects.map((o) => ({ ...o, provider: 'helm' })),
      stateSerial: state.serial,
      stateLineage: state.lineage,
      durationMs: Date.now() - started,
    };
  }

  async outputs(_spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>> {
    return (await this.loadState(ctx)).outputs;
  }

  async snapshotState(_spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot> {
    const s = await this.loadState(ctx);
    return {
      serial: s.serial,
      lineage: s.lineage,
      resources: s.objects.map((o) => ({ ...o, provider: 'helm' })),
      outputs: s.outputs,
    };
  }

  /** The release as helm records it against Strata's state: gone, or moved to a revision Strata did not make. */
  async detectDrift(spec: StackSpec, _config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport> {
    const state = await this.loadState(ctx);
    const scannedAt = new Date().toISOString();
    if (state.revision === null) return { scannedAt, drifted: false, resources: [] };
    const cur = await this.current(spec, ctx);
    if (!cur)
      return {
        scannedAt,
        drifted: true,
        resources: state.objects.map((o) => ({ ...o, change: 'deleted' as const, severity: 'high' as const })),
      };
    if (cur.revision === state.revision) return { scannedAt, drifted: false, resources: [] };
    return {
      scannedAt,
      drifted: true,
      resources: [{ address: `release/${state.release}`, type: 'helm/release', change: 'modified', severity: 'high' }],
    };
  }
}

/** Builds the Helm executor. */
export function createHelmExecutor(opts: HelmExecutorOptions = {}): IacExecutor {
  return new HelmExecutor(opts);
}
