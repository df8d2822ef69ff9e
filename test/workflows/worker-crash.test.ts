/**
 * Issue 4: the worker process is SIGKILLed while a run is `applying`, then started again. The run must finish
 * correctly, no resource may be duplicated and the stack lock must be free afterwards.
 *
 * The worker here is the real process (`tsx src/worker/main.ts`, its own process group, as `npm start` runs
 * it), against this file's Temporal dev server; the API runs in-process over the same config. The retry of
 * the killed apply starts once the activity's heartbeat timeout (20 s, `iacApply` in stack-change.ts) runs out.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import YAML from 'yaml';
import { createApp } from '../../src/api/app';
import { SimulatedCloud } from '../../src/executors/simulated/persistence';
import type { SimState } from '../../src/executors/simulated/model';
import { createStores } from '../../src/store';
import { StatusKey } from '../../src/shared/search-attributes';
import { deploymentWorkflowId, type Deployment } from '../../src/contracts/runs';
import { api } from '../helpers/api-client';
import { poll } from '../helpers/poll';
import { eventually, startTemporal, testConfig } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '..', '..');

describe('worker SIGKILLed mid-apply, then restarted', () => {
  let env: TestWorkflowEnvironment;
  const config = testConfig();
  const tmp = path.dirname(config.workDir);
  const configFile = path.join(tmp, 'strata.yaml');
  const stores = createStores(config.stateStore, config.artifactsDir);
  const cloud = new SimulatedCloud(stores.artifacts);
  const outDir = path.join(config.stacks['hello-local'].variables.strata_data_dir as string, 'out', 'dev');
  let http: ReturnType<typeof api>;
  /** Process-group leaders of every worker started, for the kill -9 in afterAll. */
  const workers: number[] = [];

  /** The worker as a real process in its own group, logging to a file (no pipes to keep jest alive). */
  function startWorkerProcess(): number {
    const log = fs.openSync(path.join(tmp, `worker-${workers.length + 1}.log`), 'a');
    const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/worker/main.ts'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        // Logs as a real worker writes them (jest's markers would silence them), for the failure messages.
        NODE_ENV: 'production',
        JEST_WORKER_ID: '',
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
        STRATA_CONFIG: configFile,
      },
    });
    fs.closeSync(log);
    child.unref();
    workers.push(child.pid!);
    return child.pid!;
  }

  const killGroup = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const alive = (pid: number) => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const workerLogs = () =>
    workers.map((_, i) => {
      const f = path.join(tmp, `worker-${i + 1}.log`);
      return `--- worker ${i + 1}\n${fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').slice(-20).join('\n') : ''}`;
    });

  /** A worker polls the task queue (the API's own readiness check). */
  const ready = () =>
    eventually(async () => (await http.get('alice', '/ready')).status === 200, 'a worker to poll', 90_000, 250);

  /** Tool processes (tofu and its provider plugins) still working in this file's workspaces. */
  function toolsInWorkDir(): string[] {
    const found: string[] = [];
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(config.workDir)) {
          found.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`);
        }
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
    return found;
  }

  async function lockOf(stack: string, environment: string) {
    const res = await http.get('alice', '/api/v1/stacks');
    const s = res.body.items.find((i: { name: string }) => i.name === stack);
    return s.environments.find((e: { name: string }) => e.name === environment) as {
      locked: boolean;
      lockHolder?: string;
    };
  }

  /** The run's status as visibility has it (a search attribute): answers even while no worker can take a query. */
  async function visibleStatus(id: string): Promise<string | undefined> {
    const desc = await env.client.workflow.getHandle(deploymentWorkflowId(id)).describe();
    return desc.typedSearchAttributes.get(StatusKey);
  }

  /**
   * Polls GET /deployments/:id until the run succeeds. Until the new worker has taken the run over, the status
   * query has no one to answer it, which the API reports as 503 (never a 500); any other end fails at once.
   */
  let unavailable = 0;
  async function succeeded(id: string, timeoutMs = 120_000): Promise<Deployment> {
    unavailable = 0;
    const fail = (why: string) => new Error(`run ${id}: ${why}\n${workerLogs().join('\n')}`);
    let d: Deployment | undefined;
    return poll(
      async () => {
        const res = await http.get('alice', `/api/v1/deployments/${id}`);
        if (res.status !== 200 && res.status !== 503)
          throw fail(`GET answered ${res.status} ${JSON.stringify(res.body)}`);
        if (res.status === 503) unavailable++;
        d = res.status === 200 ? (res.body as Deployment) : undefined;
        if (d?.status === 'succeeded') return d;
        if (d?.completedAt)
          throw fail(`ended ${d.status}: ${JSON.stringify({ error: d.error, events: d.events.slice(-6) })}`);
        return undefined;
      },
      {
        what: () => `run ${id} to succeed (still ${d?.status ?? 'not answering (503)'})\n${workerLogs().join('\n')}`,
        timeoutMs,
        everyMs: 250,
        errors: 'throw',
      },
    );
  }

  const hasEvent = (d: Deployment, text: string) => d.events.some((e) => e.message.includes(text));

  beforeAll(async () => {
    // The child loads strata.yaml the way `npm start` does; write this file's config (absolute paths) there.
    const { baseDir: _baseDir, configPath: _configPath, ...raw } = config;
    fs.writeFileSync(configFile, YAML.stringify(raw));
    env = await startTemporal();
    http = api(createApp({ temporal: { client: env.client }, config }));
    startWorkerProcess();
    await ready();
  }, 120_000);

  afterAll(async () => {
    for (const pid of workers) killGroup(pid, 'SIGKILL');
    await env?.teardown();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('sim-multicloud: the interrupted apply resumes, adopting what exists; no duplicates, lock free', async () => {
    const variables = { instance_count: 6, latency_ms_per_resource: 700 };
    const id = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables });
    await http.waitFor(id, ['applying']);
    // Kill while the cloud has some but not all of the 9 resources (bucket, database, 6 instances, DNS).
    const partial = await eventually(
      async () => {
        const n = Object.keys((await cloud.read('sim-multicloud', 'dev')).resources).length;
        return n >= 2 && n < 9 && n;
      },
      'the apply to be part-way',
      30_000,
      50,
    );
    const victim = workers[workers.length - 1];
    killGroup(victim, 'SIGKILL');
    await eventually(() => !alive(victim), 'the killed worker to be gone', 10_000, 50);
    const killedAt = Date.now();
    expect(await visibleStatus(id)).toBe('applying');

    startWorkerProcess();
    const done = await succeeded(id);
    console.info(
      `sim-multicloud: killed with ${partial}/9 resources in the cloud; succeeded ${Date.now() - killedAt} ms after ` +
        `the kill (GET answered 503 ${unavailable}×)`,
    );
    expect(hasEvent(done, 'apply resumed after a worker failure')).toBe(true);
    expect(done.stateVersion).toBe(1);
    expect(done.outputs).toMatchObject({ instance_count: 6, healthy: true });

    // Exactly the planned resources, each once, in the cloud and in the state, with the same ids.
    const planned = done.plan!.resources.map((r) => r.address).sort();
    expect(planned).toHaveLength(9);
    const reality = Object.values((await cloud.read('sim-multicloud', 'dev')).resources);
    expect(reality.map((r) => r.address).sort()).toEqual(planned);
    expect(new Set(reality.map((r) => r.id)).size).toBe(9);
    const state = JSON.parse((await stores.state.getCurrentState('sim-multicloud', 'dev'))!.body) as SimState;
    expect(state.applying).toBeUndefined();
    expect(state.resources.map((r) => r.address).sort()).toEqual(planned);
    expect(state.resources.map((r) => r.id).sort()).toEqual(reality.map((r) => r.id).sort());
    expect(done.outputs.instance_ids).toEqual(
      expect.arrayContaining(state.resources.filter((r) => r.kind === 'instance').map((r) => r.id)),
    );

    expect(await lockOf('sim-multicloud', 'dev')).toMatchObject({ locked: false });
    // The next run on the stack is not blocked, and the interrupted apply left nothing to do.
    const next = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev', variables });
    await http.waitFor(next, ['no_changes'], 60_000);
    expect(Object.keys((await cloud.read('sim-multicloud', 'dev')).resources)).toHaveLength(9);
    expect(await lockOf('sim-multicloud', 'dev')).toMatchObject({ locked: false });
  });

  it('hello-local (OpenTofu): the tool outlives the worker, the retry adopts its state; no file written twice', async () => {
    if (!alive(workers[workers.length - 1])) startWorkerProcess(); // the previous test died before restarting it
    await ready();
    const files = () =>
      fs.existsSync(outDir)
        ? fs
            .readdirSync(outDir)
            .filter((f) => f.endsWith('.txt'))
            .sort()
        : [];
    const variables = { message: 'crash', file_count: 100 };
    const id = await http.deploy('alice', { stack: 'hello-local', environment: 'dev', variables });
    await http.waitFor(id, ['applying']);
    // Kill once tofu has begun creating files: random_pet is in its memory, not yet in any state file.
    await eventually(() => files().length >= 3, 'tofu apply to create files', 30_000, 5);
    const victim = workers[workers.length - 1];
    killGroup(victim, 'SIGKILL');
    const filesAtKill = files().length;
    const survivors = toolsInWorkDir();
    await eventually(() => !alive(victim), 'the killed worker to be gone', 10_000, 50);
    const killedAt = Date.now();

    startWorkerProcess();
    const done = await succeeded(id);
    console.info(
      `hello-local: killed with ${filesAtKill}/100 files written; tool processes running right after the kill: ` +
        `${survivors.join(' | ') || 'none'}; succeeded ${Date.now() - killedAt} ms after the kill (GET answered 503 ${unavailable}×)`,
    );
    expect(hasEvent(done, 'apply resumed after a worker failure')).toBe(true);
    // One random_pet suffix on exactly 100 files: an apply repeated from scratch would add 100 more, named anew.
    expect(files()).toHaveLength(100);
    expect(new Set(files().map((f) => f.replace(/^hello-\d+-/, ''))).size).toBe(1);
    for (const f of files()) expect(fs.readFileSync(path.join(outDir, f), 'utf8')).toBe('crash');
    const state = await http.get('alice', '/api/v1/stacks/hello-local/environments/dev/state');
    expect(state.body.resources.filter((r: { type: string }) => r.type === 'local_file')).toHaveLength(100);
    expect(await lockOf('hello-local', 'dev')).toMatchObject({ locked: false });
    // Nothing of the killed attempt keeps running (tofu finished; its provider plugins were reaped).
    await eventually(() => toolsInWorkDir().length === 0, 'no tool process to remain', 15_000, 200);

    const next = await http.deploy('alice', { stack: 'hello-local', environment: 'dev', variables });
    await http.waitFor(next, ['no_changes'], 60_000);
    expect(files()).toHaveLength(100);
  });
});
