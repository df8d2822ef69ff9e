/**
 * Kubernetes manifests behind the IacExecutor interface: a directory of YAML applied with server-side apply
 * (field manager `strata`), every object labelled with the stack and environment so objects the stack no longer
 * declares are found and pruned. The plan is a server-side dry-run apply of each object compared with the live
 * one; it records every object's resourceVersion, and the apply refuses the plan when one moved. After applying,
 * the apply waits for the objects' readiness conditions (Deployment Available, Job Complete, a Ready condition).
 */
import { loadApprovedPlan } from '../approved-plan';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID, createHash } from 'node:crypto';
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { kubeClient } from './kube-client';
import { ApplicationFailure } from '@temporalio/common';
import YAML from 'yaml';
import { ErrorCode, StrataError } from '../../shared/errors';
import { acquireApplyLease } from '../apply-lease';
import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorContext,
  IacExecutor,
  PlanSummary,
  StackSpec,
  StateSnapshot,
} from '../types';
import {
  addressOf,
  ENV_LABEL,
  FIELD_MANAGER,
  STACK_LABEL,
  type K8sChange,
  type K8sConfigDocument,
  type K8sPlanDocument,
  type K8sState,
  type K8sStateObject,
  type Manifest,
  type ObjectRef,
} from './model';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const failure = (type: ErrorCode, message: string, details?: Record<string, unknown>) =>
  ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });

/** Kinds without a namespace; every other object gets the stack's namespace when its manifest names none. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'APIService',
  'CSIDriver',
]);

/** Options of the Kubernetes executor. */
export interface K8sExecutorOptions {
  /** How often readiness is polled (default 500 ms). */
  pollMs?: number;
}

/** Where the stack's objects go: from the stack's `kubernetes` config. */
function clusterOf(spec: StackSpec): { kc: KubeConfig; namespace: string; readinessTimeoutMs: number } {
  const k = spec.kubernetes ?? {};
  const kc = new (kubeClient().KubeConfig)();
  if (k.kubeconfig) kc.loadFromFile(k.kubeconfig);
  else kc.loadFromDefault();
  if (k.context) kc.setCurrentContext(k.context);
  return { kc, namespace: k.namespace ?? 'default', readinessTimeoutMs: (k.readinessTimeoutSeconds ?? 300) * 1000 };
}

/**
 * The version of an object a plan depends on: its generation where it has one (it moves with the spec only, not
 * with the status a controller writes), else its resourceVersion.
 */
const versionOf = (o: KubernetesObject | undefined): string | null =>
  !o
    ? null
    : o.metadata?.generation !== undefined
      ? `generation ${o.metadata.generation}`
      : `resourceVersion ${o.metadata?.resourceVersion}`;

const isNotFound = (err: unknown) => (err as { code?: number })?.code === 404;
const refOf = (o: KubernetesObject | Manifest): ObjectRef => ({
  apiVersion: o.apiVersion!,
  kind: o.kind!,
  ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
  name: o.metadata!.name!,
});
const header = (r: ObjectRef) => ({
  apiVersion: r.apiVersion,
  kind: r.kind,
  metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) },
});

/** What a comparison of a dry-run result with the live object must ignore: bookkeeping the server owns. */
function comparable(o: KubernetesObject): string {
  const c = structuredClone(o) as Record<string, any>;
  for (const k of ['resourceVersion', 'managedFields', 'generation', 'creationTimestamp', 'uid'])
    delete c.metadata?.[k];
  delete c.status;
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(c));
}

async function loadState(ctx: ExecutorContext): Promise<K8sState> {
  const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
  if (!current) return { format: 'strata-k8s-state/1', serial: 0, lineage: '', objects: [], outputs: {} };
  const body = JSON.parse(current.body) as K8sState;
  if (body.format !== 'strata-k8s-state/1') {
    throw failure(
      ErrorCode.INTERNAL,
      `state of ${ctx.stack}/${ctx.environment} was not written by the Kubernetes executor`,
    );
  }
  return { ...body, serial: current.serial, lineage: current.lineage };
}

async function persistState(ctx: ExecutorContext, state: K8sState): Promise<void> {
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

/** Whether an object is ready, and if not why; objects without readiness semantics are ready once applied. */
function readiness(o: KubernetesObject): string | undefined {
  const s = (o as { status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number } }).status;
  const cond = (type: string) => s?.conditions?.find((c) => c.type === type);
  const gen = o.metadata?.generation;
  const observed = gen === undefined || (s?.observedGeneration ?? 0) >= gen;
  switch (o.kind) {
    case 'Deployment':
      return observed && cond('Available')?.status === 'True' ? undefined : 'condition Available is not True';
    case 'Job':
      return cond('Complete')?.status === 'True' ? undefined : 'condition Complete is not True';
    default:
      if (cond('Ready')) return cond('Ready')!.status === 'True' ? undefined : 'condition Ready is not True';
      return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

class KubernetesExecutor implements IacExecutor {
  readonly kind = 'kubernetes' as const;
  constructor(private readonly opts: K8sExecutorOptions) {}

  async prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
    const unknown = Object.keys(spec.variables ?? {});
    if (unknown.length) {
      throw failure(
        ErrorCode.VALIDATION_FAILED,
        `Kubernetes manifest stacks take no variables (got ${unknown.join(', ')})`,
      );
    }
    const { namespace } = clusterOf(spec);
    const files = (await fs.readdir(spec.path)).filter((f) => /\.ya?ml$/.test(f)).sort();
    if (!files.length) throw failure(ErrorCode.PLAN_FAILED, `no .yaml manifests in ${spec.path}`);
    const objects: Manifest[] = [];
    const seen = new Set<string>();
    for (const f of files) {
      for (const d of YAML.parseAllDocuments(await fs.readFile(path.join(spec.path, f), 'utf8'))) {
        if (d.errors.length) throw failure(ErrorCode.VALIDATION_FAILED, `${f}: ${d.errors[0].message}`);
        const o = d.toJSON() as Manifest | null;
        if (!o) continue;
        if (!o.apiVersion || !o.kind || !o.metadata?.name) {
          throw failure(ErrorCode.VALIDATION_FAILED, `${f}: every object needs apiVersion, kind and metadata.name`);
        }
        if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace ??= namespace;
        o.metadata.labels = { ...o.metadata.labels, [STACK_LABEL]: spec.stack, [ENV_LABEL]: spec.environment };
        const addr = addressOf(refOf(o));
        if (seen.has(addr)) throw failure(ErrorCode.VALIDATION_FAILED, `${f}: ${addr} is declared twice`);
        seen.add(addr);
        objects.push(o);
      }
    }
    const doc: K8sConfigDocument = { format: 'strata-k8s-config/1', stack: spec.stack, files, objects };
    const bytes = Buffer.from(JSON.stringify(doc, null, 2));
    const ref = `runs/${ctx.runId}/config.json`;
    await ctx.artifacts.put(ref, bytes);
    ctx.log({ level: 'info', message: `captured ${objects.length} object(s) from ${files.join(', ')}` });
    return { ref, digest: sha256(bytes), executor: 'kubernetes', variables: {} };
  }

  private async loadConfig(config: ConfigSnapshot, ctx: ExecutorContext): Promise<K8sConfigDocument> {
    const bytes = await ctx.artifacts.get(config.ref);
    if (sha256(bytes) !== config.digest)
      throw failure(ErrorCode.PLAN_FAILED, `config snapshot ${config.ref} does not match its digest`);
    return JSON.parse(bytes.toString('utf8')) as K8sConfigDocument;
  }

  /** Objects of the stack/env on the cluster, by label, for every kind the stack has or had. */
  private async labelled(api: KubernetesObjectApi, spec: StackSpec, kinds: ObjectRef[]): Promise<KubernetesObject[]> {
    const out: KubernetesObject[] = [];
    const selector = `${STACK_LABEL}=${spec.stack},${ENV_LABEL}=${spec.environment}`;
    for (const key of new Set(kinds.map((k) => `${k.apiVersion}|${k.kind}`))) {
      const [apiVersion, kind] = key.split('|');
      try {
        const list = await api.list(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, selector);
        for (const item of list.items) out.push({ ...item, apiVersion, kind });
      } catch (err) {
        // A kind the server no longer serves (its CRD is gone) has no objects left to prune.
        if (!isNotFound(err) && !/Unrecognized API version and kind/.test(String(err))) throw err;
      }
    }
    return out;
  }

  private async makePlan(
    spec: StackSpec,
    config: ConfigSnapshot,
    ctx: ExecutorContext,
    destroy: boolean,
  ): Promise<PlanSummary> {
    const doc = await this.loadConfig(config, ctx);
    const api = kubeClient().KubernetesObjectApi.makeApiClient(clusterOf(spec).kc);
    const state = await loadState(ctx);
    const desired = destroy ? [] : doc.objects;
    const changes: K8sChange[] = [];
    const baseline: Record<string, string | null> = {};
    for (const o of desired) {
      const ref = refOf(o);
      const address = addressOf(ref);
      let live: KubernetesObject | undefined;
      try {
        live = await api.read(header(ref));
      } catch (err) {
        if (!isNotFound(err)) throw failure(ErrorCode.PLAN_FAILED, `reading ${address}: ${(err as Error).message}`);
      }
      baseline[address] = versionOf(live);
      let dry: KubernetesObject;
      try {
        dry = await api.patch<KubernetesObject>(
          o as KubernetesObject,
          undefined,
          'All',
          FIELD_MANAGER,
          true,
          kubeClient().PatchStrategy.ServerSideApply,
        );
      } catch (err) {
        throw failure(
          ErrorCode.PLAN_FAILED,
          `server-side dry-run of ${address} refused: ${(err as { body?: string }).body ?? (err as Error).message}`,
        );
      }
      const action = !live ? 'create' : comparable(dry) === comparable(live) ? 'no-op' : 'update';
      changes.push({ ...ref, address, action });
    }
    const wanted = new Set(changes.map((c) => c.address));
    const known = [...state.objects, ...desired.map(refOf)];
    const onCluster = await this.labelled(api, spec, known);
    const prunable = new Map<string, ObjectRef & { rv?: string }>();
    for (const o of onCluster) prunable.set(addressOf(refOf(o)), { ...refOf(o), rv: versionOf(o) ?? undefined });
    for (const [address, r] of prunable) {
      if (wanted.has(address)) continue;
      baseline[address] = r.rv ?? null;
      changes.push({
        apiVersion: r.apiVersion,
        kind: r.kind,
        ...(r.namespace ? { namespace: r.namespace } : {}),
        name: r.name,
        address,
        action: 'delete',
      });
    }
    const planDoc: K8sPlanDocument = {
      format: 'strata-k8s-plan/1',
      stack: ctx.stack,
      environment: ctx.environment,
      runId: ctx.runId,
      destroy,
      config: { ref: config.ref, digest: config.digest },
      objects: desired,
      changes,
      baseline,
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
    ctx.log({
      level: 'info',
      message: real.length
        ? `Plan: ${n('create')} to add, ${n('update')} to change, ${n('delete')} to destroy.`
        : 'No changes. The cluster matches the manifests.',
    });
    return {
      planRef,
      planHash,
      add: n('create'),
      change: n('update'),
      destroy: n('delete'),
      hasChanges: real.length > 0,
      destroyPlan: destroy,
      resources: real.map((c) => ({
        address: c.address,
        type: `${c.apiVersion}/${c.kind}`,
        action: c.action,
        provider: 'kubernetes',
      })),
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
    const doc = JSON.parse(bytes.toString('utf8')) as K8sPlanDocument;
    const { kc, readinessTimeoutMs } = clusterOf(spec);
    const api = kubeClient().KubernetesObjectApi.makeApiClient(kc);
    const state = await loadState(ctx);
    const resuming = state.applying?.planHash === plan.planHash;
    if (!resuming && (state.serial !== doc.stateSerial || state.lineage !== doc.stateLineage)) {
      throw failure(
        ErrorCode.PLAN_STALE,
        `saved plan was made against state serial ${doc.stateSerial}, the state is now at ${state.serial}: plan again`,
      );
    }
    if (!resuming) {
      for (const [address, rv] of Object.entries(doc.baseline)) {
        const c = doc.changes.find((x) => x.address === address)!;
        let now: string | null = null;
        try {
          now = versionOf(await api.read(header(c)));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        if (now !== rv) {
          throw failure(
            ErrorCode.PLAN_STALE,
            `${address} changed since the plan (${rv ?? 'absent'} → ${now ?? 'absent'}): plan again`,
          );
        }
      }
      if (!plan.hasChanges) return this.result(state, started);
      // Server-side apply is idempotent: a retry after a crash re-applies the same plan and converges.
      state.applying = { planHash: plan.planHash, runId: ctx.runId };
      await persistState(ctx, state);
    } else {
      ctx.log({
        level: 'warn',
        message: `resuming the unfinished apply of this plan (run ${state.applying!.runId}): re-applying it`,
      });
    }

    const applied: K8sStateObject[] = [];
    for (const o of doc.objects) {
      const address = addressOf(refOf(o));
      const action = doc.changes.find((c) => c.address === address)?.action;
      if (ctx.signal.aborted) throw failure(ErrorCode.APPLY_INTERRUPTED, `apply cancelled before ${address}`);
      const res = await api
        .patch<KubernetesObject>(
          o as KubernetesObject,
          undefined,
          undefined,
          FIELD_MANAGER,
          true,
          kubeClient().PatchStrategy.ServerSideApply,
        )
        .catch((err: unknown) => {
          throw failure(
            ErrorCode.APPLY_FAILED,
            `applying ${address}: ${(err as { body?: string }).body ?? (err as Error).message}`,
          );
        });
      if (action !== 'no-op')
        ctx.log({
          level: 'info',
          message: `${address}: ${action === 'create' ? 'created' : 'configured'}`,
          resource: address,
        });
      applied.push({ ...refOf(res), address, uid: res.metadata?.uid, resourceVersion: res.metadata?.resourceVersion });
      ctx.heartbeat({ resource: address });
    }
    for (const c of doc.changes.filter((x) => x.action === 'delete')) {
      await api.delete(header(c), undefined, undefined, undefined, undefined, 'Background').catch((err: unknown) => {
        if (!isNotFound(err)) throw failure(ErrorCode.APPLY_FAILED, `deleting ${c.address}: ${(err as Error).message}`);
      });
      ctx.log({ level: 'info', message: `${c.address}: pruned`, resource: c.address });
    }
    state.objects = applied;
    state.outputs = Object.fromEntries(applied.map((a) => [a.address, a.uid]));
    delete state.applying;
    await persistState(ctx, state);

    // Readiness: the state already names every applied object, so a timeout leaves state == cluster.
    const deadline = Date.now() + readinessTimeoutMs;
    for (;;) {
      const waiting: string[] = [];
      for (const a of applied) {
        const live = await api.read(header(a));
        const why = readiness(live);
        if (why) waiting.push(`${a.address} (${why})`);
      }
      if (!waiting.length) break;
      if (Date.now() > deadline) {
        throw failure(ErrorCode.APPLY_FAILED, `not ready after ${readinessTimeoutMs / 1000}s: ${waiting.join(', ')}`, {
          waiting,
        });
      }
      if (ctx.signal.aborted)
        throw failure(ErrorCode.APPLY_INTERRUPTED, `apply cancelled while waiting for ${waiting.join(', ')}`);
      ctx.heartbeat({ phase: 'readiness', waiting });
      await sleep(this.opts.pollMs ?? 500, ctx.signal);
    }
    ctx.log({
      level: 'info',
      message: `Apply complete! ${applied.length} object(s) applied and ready, ${doc.changes.filter((c) => c.action === 'delete').length} pruned.`,
    });
    return this.result(state, started);
  }

  private result(state: K8sState, started: number): ApplyResult {
    return {
      outputs: state.outputs,
      resources: state.objects.map((o) => ({
        address: o.address,
        type: `${o.apiVersion}/${o.kind}`,
        provider: 'kubernetes',
        attributes: { uid: o.uid },
      })),
      stateSerial: state.serial,
      stateLineage: state.lineage,
      durationMs: Date.now() - started,
    };
  }

  async outputs(_spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>> {
    return (await loadState(ctx)).outputs;
  }

  async snapshotState(_spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot> {
    const s = await loadState(ctx);
    return {
      serial: s.serial,
      lineage: s.lineage,
      resources: s.objects.map((o) => ({
        address: o.address,
        type: `${o.apiVersion}/${o.kind}`,
        provider: 'kubernetes',
      })),
      outputs: s.outputs,
    };
  }

  /** Live objects against the recorded configuration: a dry-run apply that would change something is drift. */
  async detectDrift(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport> {
    const doc = await this.loadConfig(config, ctx);
    const api = kubeClient().KubernetesObjectApi.makeApiClient(clusterOf(spec).kc);
    const resources: DriftReport['resources'] = [];
    for (const o of doc.objects) {
      const address = addressOf(refOf(o));
      const type = `${o.apiVersion}/${o.kind}`;
      let live: KubernetesObject;
      try {
        live = await api.read(header(refOf(o)));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        resources.push({ address, type, change: 'deleted', severity: 'high' });
        continue;
      }
      const dry = await api.patch<KubernetesObject>(
        o as KubernetesObject,
        undefined,
        'All',
        FIELD_MANAGER,
        true,
        kubeClient().PatchStrategy.ServerSideApply,
      );
      if (comparable(dry) !== comparable(live))
        resources.push({ address, type, change: 'modified', severity: 'medium' });
    }
    return { scannedAt: new Date().toISOString(), drifted: resources.length > 0, resources };
  }
}

/** Builds the Kubernetes manifests executor. */
export function createKubernetesExecutor(opts: K8sExecutorOptions = {}): IacExecutor {
  return new KubernetesExecutor(opts);
}
