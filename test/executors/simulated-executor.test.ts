/**
 * The simulated cloud executor end to end over the filesystem stores: plan/apply/drift/destroy semantics,
 * stale-plan refusal, provider failover, dry-run providers and every injected fault.
 */
import { ApplicationFailure } from '@temporalio/common';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutorContext, IacExecutor, LogEntry, PlanSummary, StackSpec } from '../../src/executors/types';
import { createSimulatedExecutor, SimulatedCloud, type PlanDocument } from '../../src/executors/simulated';
import { loadDefinition } from '../../src/executors/simulated/definition';
import { sha256 } from '../../src/executors/simulated/model';
import { FsArtifactStore, FsStateStore } from '../../src/store';
import type { StateStore } from '../../src/store/state-store';

const STACK_DIR = path.resolve(__dirname, '../../stacks/sim-multicloud');
const PROVIDERS = {
  aws: { region: 'us-west-1', dryRun: false },
  gcp: { region: 'us-central1', dryRun: false },
  azure: { region: 'eastus', dryRun: false },
  dummy: { region: 'test-region', dryRun: false },
};

let root: string;
let artifacts: FsArtifactStore;
let state: StateStore;
let exec: IacExecutor;
let envSeq = 0;
let runSeq = 0;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-sim-'));
  artifacts = new FsArtifactStore(path.join(root, 'artifacts'));
  state = new FsStateStore(path.join(root, 'state'));
  exec = createSimulatedExecutor();
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

/** One stack/env per test keeps tests independent even on a shared store. */
function target(over: Partial<StackSpec> = {}): StackSpec {
  return {
    stack: 'sim-multicloud',
    environment: `env${++envSeq}`,
    executor: 'simulated',
    path: STACK_DIR,
    variables: {},
    providers: structuredClone(PROVIDERS),
    failoverOrder: ['aws', 'gcp', 'azure'],
    ...over,
  };
}

interface Ctx extends ExecutorContext {
  logs: LogEntry[];
  heartbeats: unknown[];
  abort: AbortController;
}

function context(spec: StackSpec, opts: { onLog?: (e: LogEntry, ctx: Ctx) => void; state?: StateStore } = {}): Ctx {
  const abort = new AbortController();
  const ctx: Ctx = {
    stack: spec.stack,
    environment: spec.environment,
    runId: `run-${++runSeq}`,
    workDir: path.join(root, 'work'),
    artifacts,
    state: opts.state ?? state,
    logs: [],
    heartbeats: [],
    abort,
    signal: abort.signal,
    heartbeat: (d) => ctx.heartbeats.push(d),
    log: (e) => {
      const entry = { ts: new Date().toISOString(), ...e };
      ctx.logs.push(entry);
      opts.onLog?.(entry, ctx);
    },
  };
  return ctx;
}

async function planFor(spec: StackSpec, variables: Record<string, unknown> = {}, ctx = context(spec)) {
  const config = await exec.prepare({ ...spec, variables }, ctx);
  const plan = await exec.plan(spec, config, ctx);
  return { plan, ctx, config };
}

async function deploy(spec: StackSpec, variables: Record<string, unknown> = {}) {
  const { plan, ctx, config } = await planFor(spec, variables);
  const result = await exec.apply(spec, plan, ctx);
  return { plan, result, ctx, config };
}

const actions = (p: PlanSummary) => p.resources.map((r) => `${r.action} ${r.address}`);
const reality = async (spec: StackSpec) =>
  (await new SimulatedCloud(artifacts).read(spec.stack, spec.environment)).resources;

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

test('plan shows the expected adds and saves a hashed plan artifact', async () => {
  const spec = target();
  const { plan, ctx } = await planFor(spec);
  expect(actions(plan)).toEqual([
    'create aws_bucket.assets',
    'create aws_database.main',
    'create aws_instance.web[0]',
    'create aws_instance.web[1]',
    'create aws_dns_record.www',
  ]);
  expect(plan).toMatchObject({
    add: 5,
    change: 0,
    destroy: 0,
    hasChanges: true,
    destroyPlan: false,
    stateSerial: 0,
    stateLineage: '',
  });
  expect(plan.planRef).toBe(`runs/${ctx.runId}/plan.json`);
  expect(sha256(await artifacts.get(plan.planRef))).toBe(plan.planHash);
  expect(ctx.logs.some((l) => l.resource === 'aws_instance.web[1]' && /will be created/.test(l.message))).toBe(true);
  // Planning again in the same run (an activity retry) yields byte-identical output.
  const again = await exec.plan(spec, plan.config, ctx);
  expect(again.planHash).toBe(plan.planHash);
});

test('apply creates the resources with deterministic ids, streams logs, and a second plan shows no changes', async () => {
  const spec = target();
  const { result, ctx } = await deploy(spec);
  expect(result.resources.map((r) => r.address)).toEqual([
    'aws_bucket.assets',
    'aws_database.main',
    'aws_instance.web[0]',
    'aws_instance.web[1]',
    'aws_dns_record.www',
  ]);
  expect(result.outputs).toMatchObject({
    provider: 'aws',
    region: 'us-west-1',
    instance_count: 2,
    dry_run: false,
    healthy: true,
  });
  const ids = result.outputs.instance_ids as string[];
  expect(ids).toHaveLength(2);
  expect(ids.every((id) => /^i-[0-9a-f]{16}$/.test(id))).toBe(true);
  expect(result.outputs.endpoints).toEqual([
    'http://web-0.us-west-1.aws.sim.strata.internal',
    'http://web-1.us-west-1.aws.sim.strata.internal',
  ]);
  expect(Object.keys(await reality(spec))).toHaveLength(5);
  const current = await state.getCurrentState(spec.stack, spec.environment);
  expect(current).toMatchObject({ serial: result.stateSerial, lineage: result.stateLineage, updatedBy: ctx.runId });
  for (const r of result.resources)
    expect(ctx.logs.some((l) => l.resource === r.address && /complete/.test(l.message))).toBe(true);
  expect(ctx.heartbeats.length).toBeGreaterThanOrEqual(5);
  expect(await exec.outputs(spec, ctx)).toEqual(result.outputs);
  expect((await exec.snapshotState(spec, ctx)).resources).toHaveLength(5);

  const { plan: second } = await planFor(spec);
  expect(second).toMatchObject({ hasChanges: false, add: 0, change: 0, destroy: 0, resources: [] });
  expect(second.stateSerial).toBe(result.stateSerial);

  // Same inputs, same ids: a fresh deploy of another environment gets its own ids, re-plans keep them.
  const other = await deploy(target());
  expect(other.result.outputs.instance_ids).not.toEqual(ids);
});

test('scaling 2 → 5 → 2 plans creates, then deletes (and updates the DNS record)', async () => {
  const spec = target();
  await deploy(spec, { instance_count: 2 });
  const up = await planFor(spec, { instance_count: 5 });
  expect(actions(up.plan)).toEqual([
    'create aws_instance.web[2]',
    'create aws_instance.web[3]',
    'create aws_instance.web[4]',
    'update aws_dns_record.www',
  ]);
  const upResult = await exec.apply(spec, up.plan, up.ctx);
  expect(upResult.outputs.instance_count).toBe(5);
  const down = await planFor(spec, { instance_count: 2 });
  expect(actions(down.plan)).toEqual([
    'update aws_dns_record.www',
    'delete aws_instance.web[4]',
    'delete aws_instance.web[3]',
    'delete aws_instance.web[2]',
  ]);
  expect(down.plan).toMatchObject({ add: 0, change: 1, destroy: 3 });
  const downResult = await exec.apply(spec, down.plan, down.ctx);
  expect(downResult.outputs.instance_count).toBe(2);
  expect(Object.values(await reality(spec)).filter((r) => r.kind === 'instance')).toHaveLength(2);
});

test('changing instance_type updates in place; changing image or region replaces', async () => {
  const spec = target();
  const first = await deploy(spec);
  const typed = await planFor(spec, { instance_type: 'large' });
  expect(actions(typed.plan)).toEqual(['update aws_instance.web[0]', 'update aws_instance.web[1]']);
  expect(typed.ctx.logs.some((l) => /instance_type: small → large/.test(l.message))).toBe(true);
  const updated = await exec.apply(spec, typed.plan, typed.ctx);
  expect(updated.outputs.instance_ids).toEqual(first.result.outputs.instance_ids); // in place: same ids

  const imaged = await planFor(spec, { instance_type: 'large', image: 'strata-web-2' });
  expect(actions(imaged.plan)).toEqual([
    'replace aws_instance.web[0]',
    'replace aws_instance.web[1]',
    'update aws_dns_record.www',
  ]);
  const replaced = await exec.apply(spec, imaged.plan, imaged.ctx);
  expect(replaced.outputs.instance_ids).not.toEqual(first.result.outputs.instance_ids);
  expect(Object.values(await reality(spec)).filter((r) => r.kind === 'instance')).toHaveLength(2);

  const moved = { ...spec, providers: { ...spec.providers!, aws: { region: 'us-east-2', dryRun: false } } };
  const regional = await planFor(moved, { instance_type: 'large', image: 'strata-web-2' });
  expect(regional.plan.resources.every((r) => r.action === 'replace')).toBe(true);
  expect(regional.plan.resources).toHaveLength(5);
});

test('drift_after_apply makes detectDrift report real divergence, and a new plan repairs it', async () => {
  const spec = target();
  const { ctx, config } = await deploy(spec, { drift_after_apply: true });
  const report = await exec.detectDrift(spec, config, ctx);
  expect(report.drifted).toBe(true);
  expect(report.resources).toEqual([
    { address: 'aws_instance.web[0]', type: 'aws_instance', change: 'modified', severity: 'medium' },
    { address: 'aws_instance.web[1]', type: 'aws_instance', change: 'deleted', severity: 'high' },
  ]);
  // The state itself was not touched: drift is the cloud diverging from it.
  const snap = await exec.snapshotState(spec, ctx);
  expect(snap.resources).toHaveLength(5);

  const repair = await planFor(spec, { drift_after_apply: false });
  expect(actions(repair.plan)).toEqual(['update aws_instance.web[0]', 'create aws_instance.web[1]']);
  expect(repair.plan.notes!.join('\n')).toMatch(/web\[1\].*deleted outside Strata/);
  await exec.apply(spec, repair.plan, repair.ctx);
  expect((await exec.detectDrift(spec, repair.config, repair.ctx)).drifted).toBe(false);

  // An out-of-band deletion of the database is critical drift.
  const cloud = new SimulatedCloud(artifacts);
  const real = await cloud.read(spec.stack, spec.environment);
  const db = Object.values(real.resources).find((r) => r.kind === 'database')!;
  delete real.resources[db.id];
  await cloud.write(spec.stack, spec.environment, real);
  const again = await exec.detectDrift(spec, repair.config, repair.ctx);
  expect(again.resources).toEqual([
    { address: 'aws_database.main', type: 'aws_database', change: 'deleted', severity: 'critical' },
  ]);
});

test('destroy removes everything from the cloud and the state', async () => {
  const spec = target();
  const { config } = await deploy(spec, { instance_count: 3 });
  const ctx = context(spec);
  const plan = await exec.planDestroy(spec, config, ctx);
  expect(plan).toMatchObject({ destroyPlan: true, add: 0, change: 0, destroy: 6 });
  expect(actions(plan)[0]).toBe('delete aws_dns_record.www');
  expect(actions(plan).at(-1)).toBe('delete aws_bucket.assets');
  const result = await exec.apply(spec, plan, ctx);
  expect(result.resources).toEqual([]);
  expect(result.outputs).toEqual({});
  expect(await reality(spec)).toEqual({});
  expect((await exec.planDestroy(spec, config, context(spec))).hasChanges).toBe(false);
});

test('a stale saved plan is refused with non-retryable PLAN_STALE', async () => {
  const spec = target();
  const a = await planFor(spec, { instance_count: 1 });
  const b = await planFor(spec, { instance_count: 3 });
  await exec.apply(spec, b.plan, b.ctx);
  const err = await failureOf(exec.apply(spec, a.plan, a.ctx));
  expect(err.type).toBe('PLAN_STALE');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toMatch(/serial 0.*now at serial/);
  expect(Object.values(await reality(spec)).filter((r) => r.kind === 'instance')).toHaveLength(3);

  // A tampered plan artifact is refused too: the approved hash names the exact bytes.
  const c = await planFor(spec, { instance_count: 2 });
  await artifacts.put(c.plan.planRef, (await artifacts.get(c.plan.planRef)).toString().replace('"update"', '"delete"'));
  expect((await failureOf(exec.apply(spec, c.plan, c.ctx))).type).toBe('PLAN_HASH_MISMATCH');
});

test('an artifact store that is down for a moment is retried; a plan that is gone is final', async () => {
  const spec = target();
  const { plan, ctx } = await planFor(spec, { instance_count: 1 });
  const outage = new Error('connect ECONNREFUSED 127.0.0.1:9000');
  const down = { ...ctx, artifacts: Object.assign(Object.create(artifacts), { get: () => Promise.reject(outage) }) };
  // Not PLAN_NOT_FOUND: the store's own error, which the apply activity's retry policy retries.
  await expect(exec.apply(spec, plan, down)).rejects.toBe(outage);
  expect(await reality(spec)).toEqual({});
  const gone = await failureOf(exec.apply(spec, { ...plan, planRef: 'runs/nobody/plan.json' }, ctx));
  expect(gone.type).toBe('PLAN_NOT_FOUND');
  expect(gone.nonRetryable).toBe(true);
});

test('fail_apply_on_resource: APPLY_FAILED at the Nth change with the partial state persisted', async () => {
  const spec = target();
  const { plan, ctx } = await planFor(spec, { fail_apply_on_resource: 3 });
  const err = await failureOf(exec.apply(spec, plan, ctx));
  expect(err.type).toBe('APPLY_FAILED');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toMatch(/aws_instance\.web\[0\]: injected failure/);
  expect(err.message).toMatch(/applied 2 of 5 change\(s\): created aws_bucket\.assets, created aws_database\.main/);
  const snap = await exec.snapshotState(spec, ctx);
  expect(snap.resources.map((r) => r.address)).toEqual(['aws_bucket.assets', 'aws_database.main']);
  expect(Object.keys(await reality(spec))).toHaveLength(2);
  // Nothing is forgotten: the next plan builds only the rest.
  const next = await planFor(spec);
  expect(actions(next.plan)).toEqual([
    'create aws_instance.web[0]',
    'create aws_instance.web[1]',
    'create aws_dns_record.www',
  ]);
  expect(next.plan.notes!.join('\n')).toMatch(/did not finish/);
});

test('latency_ms_per_resource slows each change down', async () => {
  const spec = target();
  const { result, ctx } = await deploy(spec, { latency_ms_per_resource: 40 });
  expect(result.durationMs).toBeGreaterThanOrEqual(5 * 40 - 5);
  const timings = ctx.logs.map((l) => /complete .* after (\d+)ms/.exec(l.message)).filter(Boolean);
  expect(timings).toHaveLength(5);
  for (const t of timings) expect(Number(t![1])).toBeGreaterThanOrEqual(39);
});

test('an unavailable provider fails over to the next in failoverOrder, recorded in notes and log; it moves back when it recovers', async () => {
  const spec = target();
  const { plan, ctx } = await planFor(spec, { unavailable_providers: ['aws'] });
  expect(plan.resources.every((r) => r.provider === 'gcp' && r.action === 'create')).toBe(true);
  expect(plan.notes).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/aws \(us-west-1\) is unavailable/),
      expect.stringMatching(/failover: planning on gcp \(us-central1\)/),
    ]),
  );
  expect(ctx.logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(expect.arrayContaining(plan.notes!));
  const result = await exec.apply(spec, plan, ctx);
  expect(result.outputs).toMatchObject({ provider: 'gcp', region: 'us-central1', instance_count: 2 });
  expect(result.resources[0].address).toBe('gcp_bucket.assets');

  // aws is back: desired state is the first available provider again, so resources move back.
  const back = await planFor(spec);
  expect(back.plan).toMatchObject({ add: 5, destroy: 5 });
  expect(back.plan.notes!.join('\n')).toMatch(/move from gcp to aws/);
  await exec.apply(spec, back.plan, back.ctx);
  expect(Object.values(await reality(spec)).every((r) => r.provider === 'aws')).toBe(true);
});

test('when the current provider goes down, its resources stay in state until it recovers', async () => {
  const spec = target();
  await deploy(spec);
  const { plan, ctx } = await planFor(spec, { unavailable_providers: ['aws'] });
  expect(plan.resources.every((r) => r.action === 'create' && r.provider === 'gcp')).toBe(true);
  expect(plan.notes!.join('\n')).toMatch(/aws is unavailable: 5 resource\(s\) stay in state/);
  await exec.apply(spec, plan, ctx);
  expect((await exec.snapshotState(spec, ctx)).resources).toHaveLength(10);
  const recovered = await planFor(spec, { providers: ['gcp'] });
  expect(recovered.plan.resources.filter((r) => r.action === 'delete').map((r) => r.provider)).toEqual(
    Array(5).fill('aws'),
  );
});

test('all providers unavailable: PROVIDER_UNAVAILABLE', async () => {
  const spec = target();
  const ctx = context(spec);
  const config = await exec.prepare(
    { ...spec, variables: { unavailable_providers: ['aws', 'gcp', 'azure', 'dummy'] } },
    ctx,
  );
  const err = await failureOf(exec.plan(spec, config, ctx));
  expect(err.type).toBe('PROVIDER_UNAVAILABLE');
  expect(err.message).toMatch(/aws \(unavailable\), gcp \(unavailable\), azure \(unavailable\), dummy \(unavailable\)/);
});

test('cancellation mid-apply: APPLY_INTERRUPTED saying what was created, partial state persisted', async () => {
  const spec = target();
  // Cancel as soon as the second change completes: the loop must stop before the third.
  const ctx = context(spec, {
    onLog: (e, c) => {
      if (e.resource === 'aws_database.main' && /complete/.test(e.message)) c.abort.abort();
    },
  });
  const { plan } = await planFor(spec, { latency_ms_per_resource: 5 }, ctx);
  const err = await failureOf(exec.apply(spec, plan, ctx));
  expect(err.type).toBe('APPLY_INTERRUPTED');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toMatch(
    /cancelled before aws_instance\.web\[0\]; applied 2 of 5 change\(s\): created aws_bucket\.assets, created aws_database\.main/,
  );
  expect((await exec.snapshotState(spec, ctx)).resources.map((r) => r.address)).toEqual([
    'aws_bucket.assets',
    'aws_database.main',
  ]);
  expect(Object.keys(await reality(spec))).toHaveLength(2);
});

test('cancellation during a slow change interrupts it before it reaches the cloud', async () => {
  const spec = target();
  const ctx = context(spec, {
    onLog: (e, c) => {
      if (e.resource === 'aws_bucket.assets' && /Creating/.test(e.message)) c.abort.abort();
    },
  });
  const { plan } = await planFor(spec, { latency_ms_per_resource: 60_000 }, ctx);
  const err = await failureOf(exec.apply(spec, plan, ctx));
  expect(err.type).toBe('APPLY_INTERRUPTED');
  expect(err.message).toMatch(/applied 0 of 5/);
  expect(await reality(spec)).toEqual({});
});

test('a dry-run provider plans normally but apply records simulated resources and creates nothing', async () => {
  const spec = target();
  spec.providers!.aws.dryRun = true;
  const { plan, ctx, result } = await deploy(spec);
  expect(plan.add).toBe(5);
  expect(plan.notes!.join('\n')).toMatch(/aws is in dry-run mode/);
  expect(result.resources.every((r) => r.attributes!.status === 'simulated')).toBe(true);
  expect(result.outputs).toMatchObject({ dry_run: true, instance_count: 2, endpoints: [] });
  expect(await reality(spec)).toEqual({});
  expect((await exec.detectDrift(spec, plan.config, ctx)).drifted).toBe(false);
  expect((await planFor(spec)).plan.hasChanges).toBe(false);

  spec.providers!.aws.dryRun = false;
  const real = await planFor(spec);
  expect(real.plan.resources.map((r) => r.action)).toEqual(Array(5).fill('create'));
  await exec.apply(spec, real.plan, real.ctx);
  expect(Object.keys(await reality(spec))).toHaveLength(5);
});

test('an apply retried after a crash resumes the same plan without duplicating resources', async () => {
  const spec = target();
  // The "crash": the state write after the third change fails, after the cloud already created it.
  let writes = 0;
  const crashing: StateStore = Object.create(state, {
    putCurrentState: {
      value: async (...args: Parameters<StateStore['putCurrentState']>) => {
        if (++writes === 4) throw new Error('worker died'); // 1 = apply marker, then one per change
        return state.putCurrentState(...args);
      },
    },
  });
  const ctx = context(spec, { state: crashing });
  const { plan } = await planFor(spec, {}, ctx);
  await expect(exec.apply(spec, plan, ctx)).rejects.toThrow('worker died');
  expect(Object.keys(await reality(spec))).toHaveLength(3);
  expect((await exec.snapshotState(spec, ctx)).resources).toHaveLength(2);

  const retry = context(spec);
  const result = await exec.apply(spec, plan, retry);
  expect(result.resources).toHaveLength(5);
  expect(Object.keys(await reality(spec))).toHaveLength(5);
  expect(retry.logs.some((l) => l.resource === 'aws_instance.web[0]' && /adopted/.test(l.message))).toBe(true);
  expect((await planFor(spec)).plan.hasChanges).toBe(false);
});

test('fail_verify reports the stack unhealthy; bad variables fail prepare', async () => {
  const spec = target();
  await deploy(spec);
  // No resource changes, yet the plan is not empty: the outputs it would publish differ.
  const unhealthy = await planFor(spec, { fail_verify: true });
  expect(unhealthy.plan).toMatchObject({ hasChanges: true, resources: [], add: 0, change: 0, destroy: 0 });
  expect(unhealthy.plan.notes).toContain('only outputs change: healthy');
  const result = await exec.apply(spec, unhealthy.plan, unhealthy.ctx);
  expect(result.outputs.healthy).toBe(false);
  expect((await planFor(spec, { fail_verify: true })).plan.hasChanges).toBe(false);
  const ctx = context(spec);
  expect((await failureOf(exec.prepare({ ...spec, variables: { instance_cout: 3 } }, ctx))).message).toMatch(
    /unknown variable instance_cout/,
  );
  expect((await failureOf(exec.prepare({ ...spec, variables: { instance_count: -1 } }, ctx))).type).toBe('PLAN_FAILED');
  expect((await failureOf(exec.prepare({ ...spec, path: root }, ctx))).type).toBe('INIT_FAILED');
});

test('the saved plan document names provider, base state and changes', async () => {
  const spec = target();
  const { plan } = await planFor(spec, { instance_count: 1 });
  const doc = JSON.parse((await artifacts.get(plan.planRef)).toString()) as PlanDocument;
  expect(doc).toMatchObject({ provider: 'aws', region: 'us-west-1', stateSerial: 0, destroy: false });
  expect(doc.changes.map((c) => c.address)).toEqual(plan.resources.map((r) => r.address));
});

test('a definition edited between runs is read afresh; what a run gets is its own copy', async () => {
  const dir = await fs.mkdtemp(path.join(root, 'stack-'));
  const file = path.join(dir, 'stack.yaml');
  const write = (size: string) =>
    fs.writeFile(file, `resources:\n  assets:\n    kind: bucket\n    attributes:\n      size: ${size}\n`);
  await write('small');
  const first = await loadDefinition(dir);
  first.definition.resources.assets.attributes.size = 'changed by the caller';
  expect((await loadDefinition(dir)).definition.resources.assets.attributes.size).toBe('small');
  await write('large');
  expect((await loadDefinition(dir)).definition.resources.assets.attributes.size).toBe('large');
  await fs.writeFile(file, 'resources:\n  assets:\n    kind: teapot\n');
  await expect(loadDefinition(dir)).rejects.toThrow(/stack\.yaml is invalid/);
});
