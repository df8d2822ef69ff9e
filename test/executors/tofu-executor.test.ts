/**
 * The OpenTofu executor against the real pinned `tofu` and the offline provider mirror: stacks/hello-local
 * end to end, stale plans, and cancelling an apply mid-way (test/fixtures/tofu-slow).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createTofuExecutor } from '../../src/executors/tofu/tofu-executor';
import { resolveCliConfig } from '../../src/executors/tofu/tool-env';
import { summarizePlan, type PlanJson } from '../../src/executors/tofu/plan-json';
import { sha256, workspaceDir } from '../../src/executors/tofu/workspace';
import type { PlanSummary, StackSpec } from '../../src/executors/types';
import { projectRoot } from '../../src/shared/tools';
import { createHarness, isAlive, processesInGroup, waitFor, type Harness } from '../helpers/executor-harness';
import { toolPath } from '../helpers/tools';

const bin = toolPath('TOFU_BIN_RESOLVED');
const cliConfigFile = resolveCliConfig({});

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

function addresses(plan: PlanSummary, action?: string): string[] {
  return plan.resources
    .filter((r) => !action || r.action === action)
    .map((r) => r.address)
    .sort();
}

describe('tofu executor on stacks/hello-local', () => {
  let h: Harness;
  let outDir: string;
  let executor: ReturnType<typeof createTofuExecutor>;
  const spec = (variables: Record<string, unknown> = {}): StackSpec => ({
    stack: 'hello-local',
    environment: 'test',
    executor: 'tofu',
    path: path.join(projectRoot, 'stacks', 'hello-local'),
    variables,
  });
  const files = () => (fs.existsSync(outDir) ? fs.readdirSync(outDir).sort() : []);

  beforeAll(() => {
    expect(cliConfigFile && fs.existsSync(cliConfigFile)).toBeTruthy();
    h = createHarness('tofu', 'hello-local');
    // No output_dir variable: the stack's default <strata_data_dir>/out/<environment> is exercised.
    const dataDir = path.join(h.root, 'data');
    outDir = path.join(dataDir, 'out', 'test');
    executor = createTofuExecutor({ bin, cliConfigFile, dataDir });
  });
  afterAll(() => h.cleanup());

  let applied: PlanSummary;

  test('prepare snapshots the config and inits offline from the mirror', async () => {
    const { ctx } = h.context('run-1');
    const config = await executor.prepare(spec(), ctx);
    expect(config.ref).toBe('runs/run-1/config.json');
    const body = await h.artifacts.get(config.ref);
    expect(sha256(body)).toBe(config.digest);
    const doc = JSON.parse(body.toString('utf8')) as { files: Record<string, string> };
    expect(Object.keys(doc.files).sort()).toEqual(['main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']);
    const ws = path.join(h.root, 'work', 'hello-local', 'test', 'run-1');
    expect(fs.existsSync(path.join(ws, '.terraform', 'providers'))).toBe(true);
  });

  test('plan shows the expected adds; apply on another worker creates the files', async () => {
    const { ctx } = h.context('run-1');
    const config = await executor.prepare(spec(), ctx);
    const plan = await executor.plan(spec(), config, ctx);
    expect(plan).toMatchObject({ add: 4, change: 0, destroy: 0, hasChanges: true, destroyPlan: false, stateSerial: 0 });
    expect(addresses(plan, 'create')).toEqual([
      'local_file.message[0]',
      'local_file.message[1]',
      'local_file.message[2]',
      'random_pet.suffix',
    ]);
    expect(sha256(await h.artifacts.get(plan.planRef))).toBe(plan.planHash);

    // A second worker: empty workDir, so it rebuilds the workspace from the artifact store.
    const other = h.context('run-1', { workDir: path.join(h.root, 'work-b') });
    const result = await executor.apply(spec(), plan, other.ctx);
    expect(files()).toHaveLength(3);
    for (const f of files()) expect(fs.readFileSync(path.join(outDir, f), 'utf8')).toBe('hello from strata');
    expect(result.outputs.output_dir).toBe(outDir);
    expect((result.outputs.files as string[]).map((f) => path.basename(f)).sort()).toEqual(files());
    expect(result.resources.map((r) => r.address)).toContain('random_pet.suffix');
    expect(result.stateSerial).toBeGreaterThan(0);
    // Each JSON log line went to the run log, with the resource address the tool reported.
    expect(other.logs.some((l) => l.resource === 'local_file.message[2]' && /Creation complete/.test(l.message))).toBe(
      true,
    );
    expect(other.beats.some((b) => b.phase === 'apply' && typeof b.pid === 'number')).toBe(true);
    const current = await h.state.getCurrentState('hello-local', 'test');
    expect(current).toMatchObject({ serial: result.stateSerial, lineage: result.stateLineage, updatedBy: 'run-1' });
    expect(await executor.outputs(spec(), ctx)).toEqual(result.outputs);
    applied = plan;
  });

  test('a second plan shows no changes', async () => {
    const { ctx } = h.context('run-2');
    const plan = await executor.plan(spec(), await executor.prepare(spec(), ctx), ctx);
    expect(plan).toMatchObject({ add: 0, change: 0, destroy: 0, hasChanges: false, resources: [] });

    // A verify-style re-plan within the applied run keeps the approved plan artifact intact.
    const run1 = h.context('run-1');
    const replan = await executor.plan(spec(), applied.config, run1.ctx);
    expect(replan.hasChanges).toBe(false);
    expect(replan.planRef).not.toBe(applied.planRef);
    expect(sha256(await h.artifacts.get(applied.planRef))).toBe(applied.planHash);
    expect(await executor.pendingChanges(spec(), applied.config, run1.ctx)).toEqual({
      add: 0,
      change: 0,
      destroy: 0,
      hasChanges: false,
    });
  });

  test('a changed message plans a replacement of every file', async () => {
    const { ctx } = h.context('run-3');
    const s = spec({ message: 'changed' });
    const plan = await executor.plan(s, await executor.prepare(s, ctx), ctx);
    expect(plan).toMatchObject({ add: 3, change: 0, destroy: 3, hasChanges: true });
    expect(addresses(plan, 'replace')).toHaveLength(3);
  });

  test("the summary read from the plan's own stream is the one `show -json` of the saved plan gives", async () => {
    const { ctx, logs } = h.context('run-3b');
    // Replacements, deletions and an output change in one plan.
    const s = spec({ message: 'fewer', file_count: 1 });
    const plan = await executor.plan(s, await executor.prepare(s, ctx), ctx);
    const show = spawnSync(bin, ['show', '-json', '-no-color', 'plan.bin'], {
      cwd: workspaceDir(ctx),
      env: { ...process.env, TF_CLI_CONFIG_FILE: cliConfigFile },
      encoding: 'utf8',
    });
    expect(show.status).toBe(0);
    const fromShow = summarizePlan(JSON.parse(show.stdout) as PlanJson);
    const sorted = (rs: { address: string; action: string }[]) =>
      rs.map((r) => `${r.action} ${r.address}`).sort((a, b) => a.localeCompare(b));
    expect({ ...plan, resources: sorted(plan.resources) }).toMatchObject({
      add: fromShow.add,
      change: fromShow.change,
      destroy: fromShow.destroy,
      hasChanges: fromShow.hasChanges,
      resources: sorted(fromShow.resources),
    });
    expect(plan.hasChanges).toBe(true);
    // The run log still reads like the tool's own output.
    expect(logs.map((l) => l.message)).toContain(
      `Plan: ${fromShow.add} to add, ${fromShow.change} to change, ${fromShow.destroy} to destroy.`,
    );
  });

  test('a later run of the same configuration reuses the initialized workspace; a changed configuration inits again', async () => {
    const inits = (logs: { message: string }[]) => logs.filter((l) => /Initializing provider plugins/.test(l.message));
    const first = h.context('run-init-a');
    await executor.prepare(spec({ message: 'one' }), first.ctx);
    // Other variables, same files: no init, and the copy plans like the original.
    const again = h.context('run-init-b');
    const plan = await executor.plan(
      spec({ message: 'two' }),
      await executor.prepare(spec({ message: 'two' }), again.ctx),
      again.ctx,
    );
    expect(inits(again.logs)).toHaveLength(0);
    expect(plan.hasChanges).toBe(true);
    expect(fs.lstatSync(path.join(workspaceDir(again.ctx), '.terraform')).isDirectory()).toBe(true);
    // A configuration with one more file is another key: init runs for it.
    const extra = fs.mkdtempSync(path.join(h.root, 'stack-'));
    fs.cpSync(path.join(projectRoot, 'stacks', 'hello-local'), extra, { recursive: true });
    fs.writeFileSync(path.join(extra, 'extra.tf'), 'locals {\n  extra = true\n}\n');
    const changed = h.context('run-init-c');
    await executor.prepare({ ...spec(), path: extra }, changed.ctx);
    expect(inits(changed.logs).length).toBeGreaterThan(0);
  });

  test('a file deleted out of band shows up as drift', async () => {
    const { ctx } = h.context('run-4');
    const config = await executor.prepare(spec(), ctx);
    expect((await executor.detectDrift(spec(), config, ctx)).drifted).toBe(false);
    const victim = ((await executor.outputs(spec(), ctx)).files as string[])[1];
    fs.rmSync(victim);
    const report = await executor.detectDrift(spec(), config, ctx);
    expect(report.drifted).toBe(true);
    expect(report.resources).toEqual([
      { address: 'local_file.message[1]', type: 'local_file', change: 'deleted', severity: 'low' },
    ]);
  });

  test('the verification plan sees what a full plan sees, and writes no plan anywhere', async () => {
    const { ctx } = h.context('run-4v');
    const config = await executor.prepare(spec(), ctx);
    const puts = jest.spyOn(h.artifacts, 'put');
    try {
      // The file the drift test removed is missing: the plan would create it again.
      const pending = await executor.pendingChanges(spec(), config, ctx);
      expect(puts).not.toHaveBeenCalled();
      expect(fs.readdirSync(workspaceDir(ctx)).filter((f) => f.endsWith('.bin'))).toEqual([]);
      puts.mockClear();
      const full = await executor.plan(spec(), config, ctx);
      expect(pending).toEqual({ add: full.add, change: full.change, destroy: full.destroy, hasChanges: true });
      expect(pending.add).toBe(1);
    } finally {
      puts.mockRestore();
    }
  });

  test('a saved plan made before the state moved is refused with PLAN_STALE', async () => {
    const a = h.context('run-a');
    const planA = await executor.plan(spec(), await executor.prepare(spec(), a.ctx), a.ctx);
    // B really changes the state (new content): a no-op apply may leave the serial alone (OpenTofu >= 1.7).
    const b = h.context('run-b');
    const moved = spec({ message: 'moved on' });
    const planB = await executor.plan(moved, await executor.prepare(moved, b.ctx), b.ctx);
    expect(planA.stateSerial).toBe(planB.stateSerial);
    await executor.apply(moved, planB, b.ctx);
    expect(files()).toHaveLength(3);

    const stale = await failureOf(executor.apply(spec(), planA, a.ctx));
    expect(stale.type).toBe('PLAN_STALE');
    expect(stale.nonRetryable).toBe(true);

    // The tool's own check, reached by lying about the serial: its refusal maps to PLAN_STALE too.
    const current = (await h.state.getCurrentState('hello-local', 'test'))!;
    const forged = { ...planA, stateSerial: current.serial, stateLineage: current.lineage };
    const toolStale = await failureOf(executor.apply(spec(), forged, a.ctx));
    expect(toolStale.type).toBe('PLAN_STALE');
    expect(toolStale.message).toMatch(/tool refused/);
  });

  test('a saved plan whose bytes changed is never applied', async () => {
    const { ctx } = h.context('run-5');
    const plan = await executor.plan(spec(), await executor.prepare(spec(), ctx), ctx);
    await h.artifacts.put(plan.planRef, Buffer.concat([await h.artifacts.get(plan.planRef), Buffer.from('x')]));
    const err = await failureOf(executor.apply(spec(), plan, ctx));
    expect(err.type).toBe('PLAN_HASH_MISMATCH');
    expect(err.nonRetryable).toBe(true);
  });

  test('state the store failed to take is recovered from the workspace by the retried attempt', async () => {
    const run = h.context('run-7');
    const s = spec({ message: 'persisted late' });
    const plan = await executor.plan(s, await executor.prepare(s, run.ctx), run.ctx);
    let failPuts = 1;
    run.ctx.state = Object.create(h.state, {
      putCurrentState: {
        value: (...args: Parameters<typeof h.state.putCurrentState>) =>
          failPuts-- > 0 ? Promise.reject(new Error('state store unavailable')) : h.state.putCurrentState(...args),
      },
    }) as typeof h.state;
    await expect(executor.apply(s, plan, run.ctx)).rejects.toThrow('state store unavailable');
    expect((await h.state.getCurrentState('hello-local', 'test'))?.updatedBy).not.toBe('run-7');

    // The activity's retry: the workspace's newer state is recorded first, which makes this plan stale.
    const retry = await failureOf(executor.apply(s, plan, run.ctx));
    expect(retry.type).toBe('PLAN_STALE');
    expect(retry.message).toMatch(/earlier attempt of this run/);
    const current = (await h.state.getCurrentState('hello-local', 'test'))!;
    expect(current.updatedBy).toBe('run-7');
    expect(current.body).toContain('persisted late');
  });

  test('planDestroy + apply removes everything', async () => {
    const { ctx } = h.context('run-6');
    const plan = await executor.planDestroy(spec(), await executor.prepare(spec(), ctx), ctx);
    expect(plan).toMatchObject({ add: 0, change: 0, destroy: 4, destroyPlan: true });
    const result = await executor.apply(spec(), plan, ctx);
    expect(result.resources).toEqual([]);
    expect(files()).toEqual([]);
    expect((await executor.snapshotState(spec(), ctx)).resources).toEqual([]);
  });
});

describe('tofu executor: cancelling an apply', () => {
  let h: Harness;
  // Each test gets its own environment, hence its own state.
  const spec = (outDir: string, environment: string): StackSpec => ({
    stack: 'slow',
    environment,
    executor: 'tofu',
    path: path.join(projectRoot, 'test', 'fixtures', 'tofu-slow'),
    variables: { output_dir: outDir },
  });

  beforeAll(() => {
    h = createHarness('tofu-cancel', 'slow');
  });
  afterAll(() => h.cleanup());

  async function startApply(runId: string, environment: string, graceMs: number) {
    const executor = createTofuExecutor({ bin, cliConfigFile, graceMs, heartbeatMs: 500 });
    const run = h.context(runId, { environment });
    const s = spec(path.join(h.root, `out-${runId}`), environment);
    const plan = await executor.plan(s, await executor.prepare(s, run.ctx), run.ctx);
    expect(plan.add).toBe(3);
    const applying = failureOf(executor.apply(s, plan, run.ctx));
    // Interrupt once the long sleep is under way, i.e. the first file exists and the tool is mid-apply.
    await waitFor(
      () => run.logs.some((l) => l.resource === 'time_sleep.wait' && /Creating/.test(l.message)),
      'time_sleep.wait to start',
    );
    const pid = run.beats.find((b) => b.phase === 'apply')?.pid as number;
    expect(isAlive(pid)).toBe(true);
    run.abort.abort();
    return { err: await applying, pid, outDir: path.join(h.root, `out-${runId}`) };
  }

  test('SIGINT stops the tool, the state it wrote is kept, and APPLY_INTERRUPTED says what is left', async () => {
    const { err, pid, outDir } = await startApply('run-int', 'int', 10_000);
    expect(err.type).toBe('APPLY_INTERRUPTED');
    expect(err.nonRetryable).toBe(true);
    expect(isAlive(pid)).toBe(false);
    expect(processesInGroup(pid)).toEqual([]);
    const details = err.details?.[0] as { resourcesInState: string[]; forceKilled: boolean; unrecorded: string[] };
    expect(details.forceKilled).toBe(false);
    expect(details.resourcesInState).toEqual(['local_file.before']);
    expect(details.unrecorded).toEqual([]);
    expect(err.message).toMatch(/1 resource\(s\) in state: local_file.before/);
    expect(fs.readdirSync(outDir)).toEqual(['before.txt']);
    const current = await h.state.getCurrentState('slow', 'int');
    expect(current?.body).toContain('"before"');
  });

  test('when the grace period runs out the whole process group is killed and nothing is left running', async () => {
    const { err, pid } = await startApply('run-kill', 'kill', 1);
    expect(err.type).toBe('APPLY_INTERRUPTED');
    expect(isAlive(pid)).toBe(false);
    expect(processesInGroup(pid)).toEqual([]);
    const details = err.details?.[0] as { resourcesInState: string[]; unrecorded: string[]; forceKilled: boolean };
    expect(details.forceKilled).toBe(true);
    // Killed before it could save: what it did is still reported, as in state or as unrecorded.
    expect([...details.resourcesInState, ...details.unrecorded]).toContain('local_file.before');
  });
});

describe('tofu executor: an apply handed over by a stopping worker', () => {
  let h: Harness;
  const spec = (outDir: string, environment: string, sleep: string): StackSpec => ({
    stack: 'slow',
    environment,
    executor: 'tofu',
    path: path.join(projectRoot, 'test', 'fixtures', 'tofu-slow'),
    variables: { output_dir: outDir, sleep },
  });

  beforeAll(() => {
    h = createHarness('tofu-handover', 'slow');
  });
  afterAll(() => h.cleanup());

  /** Plans, starts the apply and waits until the tool sleeps (the first file exists). */
  async function applying(runId: string, environment: string, sleep: string) {
    const executor = createTofuExecutor({ bin, cliConfigFile, heartbeatMs: 500, leaseTtlMs: 3_000 });
    const run = h.context(runId, { environment });
    const outDir = path.join(h.root, `out-${environment}`);
    const s = spec(outDir, environment, sleep);
    const plan = await executor.plan(s, await executor.prepare(s, run.ctx), run.ctx);
    const result = failureOf(executor.apply(s, plan, run.ctx));
    await waitFor(
      () => run.logs.some((l) => l.resource === 'time_sleep.wait' && /Creating/.test(l.message)),
      'time_sleep.wait to start',
    );
    const pid = run.beats.find((b) => b.phase === 'apply')?.pid as number;
    return { executor, run, s, plan, result, pid, outDir };
  }

  test('worker shutdown: retryable APPLY_HANDED_OVER, the tool runs on and stores its state; the retry takes it over', async () => {
    const a = await applying('run-ho', 'handover', '4s');
    a.run.ctx.cancelledByRun = () => false; // the SDK's workerShutdown cancellation
    a.run.abort.abort();
    const err = await a.result;
    expect(err.type).toBe('APPLY_HANDED_OVER');
    expect(err.nonRetryable).toBe(false);
    expect(isAlive(a.pid)).toBe(true);

    // The retry of the same run: it waits for the lease the tool's watchdog renews, then finds the state it stored.
    const retry = h.context('run-ho', { environment: 'handover' });
    const stale = await failureOf(a.executor.apply(a.s, a.plan, retry.ctx));
    expect(stale.type).toBe('PLAN_STALE');
    expect(stale.message).toMatch(/earlier attempt of this run/);
    expect(retry.logs.some((l) => /waiting for the apply lease/.test(l.message))).toBe(true);
    expect(fs.readdirSync(a.outDir).sort()).toEqual(['after.txt', 'before.txt']);
    const current = (await h.state.getCurrentState('slow', 'handover'))!;
    expect(current.updatedBy).toBe('run-ho');
    expect(current.body).toContain('"after"');
    expect(await h.state.getApplyLease('slow', 'handover')).toMatchObject({ released: { outcome: 'no-tool' } });
    expect(processesInGroup(a.pid)).toEqual([]);
  });

  test('cancelling the run from another machine interrupts the handed-over tool through its lease', async () => {
    const a = await applying('run-x', 'remote-cancel', '300s');
    a.run.ctx.cancelledByRun = () => false;
    a.run.abort.abort();
    expect((await a.result).type).toBe('APPLY_HANDED_OVER');

    // The retry on another machine (its own workDir) waits for the lease; then the run is cancelled.
    const other = h.context('run-x', { environment: 'remote-cancel', workDir: path.join(h.root, 'work-other') });
    const waiting = failureOf(a.executor.apply(a.s, a.plan, other.ctx));
    await waitFor(() => other.logs.some((l) => /waiting for the apply lease/.test(l.message)), 'the wait');
    other.abort.abort();
    const err = await waiting;
    expect(err.type).toBe('APPLY_INTERRUPTED');
    expect(err.message).toMatch(/asked to stop/);
    // The watchdog sees the request at its next renewal, stops the tool and stores what it left.
    await waitFor(() => !isAlive(a.pid), 'the handed-over tool to stop', 30_000);
    await waitFor(() => processesInGroup(a.pid).length === 0, 'its group to be gone', 10_000);
    const lease = await h.state.getApplyLease('slow', 'remote-cancel');
    expect(lease).toMatchObject({ interrupt: true, released: { outcome: 'state-stored' } });
    const current = (await h.state.getCurrentState('slow', 'remote-cancel'))!;
    expect(current.body).toContain('"before"');
    expect(fs.readdirSync(a.outDir)).toEqual(['before.txt']);
  });
});
