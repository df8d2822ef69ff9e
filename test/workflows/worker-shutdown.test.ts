/**
 * A graceful worker restart (SIGTERM, as a deploy or `npm start`'s supervisor sends it) while a run is applying.
 * After shutdownGraceTime the SDK cancels the worker's in-flight activities; that cancellation is the worker's,
 * not the run's, so it must never end the apply: the tool goes on, the next attempt (on the second worker)
 * takes over its result, the run succeeds with exactly the approved plan and no rollback.
 *
 * Workers are real processes (test/helpers/worker-process.ts) against this file's Temporal dev server; the API
 * runs in-process over the same config.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { SimulatedCloud } from '../../src/executors/simulated/persistence';
import type { SimState } from '../../src/executors/simulated/model';
import { parseState } from '../../src/executors/tofu/plan-json';
import { createStores } from '../../src/store';
import type { Deployment } from '../../src/contracts/runs';
import { api } from '../helpers/api-client';
import { eventually, startTemporal, testConfig } from '../helpers/temporal';
import { processesBelow, workerProcesses, type WorkerProcess } from '../helpers/worker-process';

const ROOT = path.resolve(__dirname, '..', '..');

describe('worker shut down gracefully (SIGTERM) mid-apply', () => {
  let env: TestWorkflowEnvironment;
  const base = testConfig();
  const tmp = path.dirname(base.workDir);
  const config = testConfig({
    stacks: {
      'sim-multicloud': {
        executor: 'simulated',
        path: path.join(ROOT, 'stacks/sim-multicloud'),
        failoverOrder: ['aws', 'gcp', 'azure'],
        verify: [{ type: 'output', output: 'healthy', equals: true }],
      },
      'tofu-slow': { executor: 'tofu', path: path.join(ROOT, 'test/fixtures/tofu-slow') },
    },
    stateStore: { kind: 'filesystem', path: path.join(tmp, 'state') },
    workDir: path.join(tmp, 'work'),
    artifactsDir: path.join(tmp, 'artifacts'),
    temporal: { taskQueue: base.temporal.taskQueue },
  });
  const stores = createStores(config.stateStore, config.artifactsDir);
  const cloud = new SimulatedCloud(stores.artifacts);
  const workers = workerProcesses(
    () => tmp,
    () => env.address,
  );
  let http: ReturnType<typeof api>;

  const ready = () =>
    eventually(async () => (await http.get('alice', '/ready')).status === 200, 'a worker to poll', 90_000, 250);

  /** Polls the run until it ends; 503 (no worker to answer the query during the switch) is waited out. */
  async function ended(id: string, timeoutMs = 150_000): Promise<Deployment> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await http.get('alice', `/api/v1/deployments/${id}`);
      if (res.status !== 200 && res.status !== 503) throw new Error(`GET ${id}: ${res.status}\n${workers.logs()}`);
      const d = res.status === 200 ? (res.body as Deployment) : undefined;
      if (d?.completedAt) return d;
      if (Date.now() > deadline) throw new Error(`run ${id} still ${d?.status ?? '503'}\n${workers.logs()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** SIGTERMs the applying worker, starts the next one; returns once the first has exited on its own. */
  async function restartGracefully(victim: WorkerProcess, name: string): Promise<{ exitedAfterMs: number }> {
    const t0 = Date.now();
    victim.signal('SIGTERM');
    workers.start(name, config);
    await eventually(() => !victim.alive(), `worker ${victim.name} to exit after SIGTERM`, 60_000, 100);
    return { exitedAfterMs: Date.now() - t0 };
  }

  const summary = (d: Deployment) =>
    JSON.stringify({ status: d.status, error: d.error, rollback: d.rollback, events: d.events.slice(-8) });

  beforeAll(async () => {
    env = await startTemporal();
    http = api(createApp({ temporal: { client: env.client }, config }));
    workers.start('a', config);
    await ready();
  }, 120_000);

  afterAll(async () => {
    workers.killAll();
    await env?.teardown();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('OpenTofu: the tool is never interrupted, the next worker takes over its state; succeeded, no rollback', async () => {
    const outDir = path.join(tmp, 'out-slow');
    // 30 s of sleep: the SIGTERM lands in it, and the 10 s shutdown grace runs out before it ends.
    const variables = { output_dir: outDir, sleep: '30s' };
    const id = await http.deploy('alice', { stack: 'tofu-slow', environment: 'dev', variables });
    await http.waitFor(id, ['applying']);
    await eventually(() => fs.existsSync(path.join(outDir, 'before.txt')), 'the apply to reach the sleep', 60_000, 50);
    const victim = workers.all[workers.all.length - 1];
    const { exitedAfterMs } = await restartGracefully(victim, 'b');
    // The worker did not wait for the apply, and the tool outlived it.
    const toolsAfterExit = processesBelow(config.workDir);
    const d = await ended(id);
    console.info(
      `tofu-slow: worker exited ${exitedAfterMs} ms after SIGTERM; tools still running then: ` +
        `${toolsAfterExit.length}; run ended ${d.status}`,
    );
    expect(d.status).toBe('succeeded');
    expect(d.rollback).toBeUndefined();
    expect(d.error).toBeUndefined();
    expect(toolsAfterExit.some((p) => / apply /.test(p))).toBe(true);
    expect(fs.readdirSync(outDir).sort()).toEqual(['after.txt', 'before.txt']);

    const planned = d.plan!.resources.map((r) => r.address).sort();
    expect(planned).toEqual(['local_file.after', 'local_file.before', 'time_sleep.wait']);
    const state = parseState((await stores.state.getCurrentState('tofu-slow', 'dev'))!.body);
    expect(state.resources.map((r) => r.address).sort()).toEqual(planned);
    const versions = await stores.state.listVersions('tofu-slow', 'dev');
    expect(versions.map((v) => [v.version, v.deploymentId, v.kind])).toEqual([[1, id, 'deploy']]);
    expect(d.stateVersion).toBe(1);
    await eventually(() => processesBelow(config.workDir).length === 0, 'no tool process to remain', 15_000, 200);
  });

  it('simulated cloud: the apply goes on at the next worker with the approved plan; succeeded, no rollback', async () => {
    await ready();
    // A first version to roll back to: an interrupted apply would have been "compensated" back to it.
    const first = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables: {} });
    expect((await http.waitFor(first, ['succeeded'], 60_000)).stateVersion).toBe(1);

    // 2 → 6 instances and the DNS record: 5 changes of 3 s each, longer than the 10 s grace.
    const variables = { instance_count: 6, latency_ms_per_resource: 3000 };
    const id = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables });
    await http.waitFor(id, ['applying']);
    await eventually(
      // The first version has 5 (bucket, database, 2 instances, DNS): a 6th means this apply is under way.
      async () => Object.keys((await cloud.read('sim-multicloud', 'dev')).resources).length >= 6,
      'the apply to be under way',
      60_000,
      50,
    );
    const victim = workers.all[workers.all.length - 1];
    const { exitedAfterMs } = await restartGracefully(victim, 'c');
    const d = await ended(id);
    console.info(`sim-multicloud: worker exited ${exitedAfterMs} ms after SIGTERM; run ended ${d.status}`);
    expect(summary(d)).toContain('"status":"succeeded"');
    expect(d.rollback).toBeUndefined();
    expect(d.stateVersion).toBe(2);
    expect(d.outputs).toMatchObject({ instance_count: 6, healthy: true });

    // Exactly the approved plan's end state: 2 + 6 instances' worth of resources, each once.
    const state = JSON.parse((await stores.state.getCurrentState('sim-multicloud', 'dev'))!.body) as SimState;
    expect(state.applying).toBeUndefined();
    expect(state.resources.filter((r) => r.kind === 'instance')).toHaveLength(6);
    const reality = Object.values((await cloud.read('sim-multicloud', 'dev')).resources);
    expect(reality.map((r) => r.address).sort()).toEqual(state.resources.map((r) => r.address).sort());
    expect(new Set(reality.map((r) => r.id)).size).toBe(reality.length);
    const versions = await stores.state.listVersions('sim-multicloud', 'dev');
    expect(versions.map((v) => [v.version, v.deploymentId, v.kind])).toEqual([
      [2, id, 'deploy'],
      [1, first, 'deploy'],
    ]);
  });
});
