/**
 * Workers on two machines: the one applying is SIGKILLed, its tool runs on (it deliberately outlives the worker),
 * and the retry lands on the other machine, which cannot see that tool or its workspace. The apply lease in the
 * state store makes the retry wait for the orphan (or for its lease to expire), then take over the state the
 * orphan stored, never applying the same plan a second time over it.
 *
 * "Two machines" here: two worker processes with their own workDir and artifactsDir, sharing only the S3 state
 * and artifact stores (moto) and the directory hello-local writes its files to (the "cloud").
 */
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { parseState } from '../../src/executors/tofu/plan-json';
import { createStores } from '../../src/store';
import type { Deployment } from '../../src/contracts/runs';
import type { StrataConfig } from '../../src/shared/config';
import { api } from '../helpers/api-client';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';
import { eventually, startTemporal, testConfig } from '../helpers/temporal';
import { processesBelow, toolRunsBelow, workerProcesses, type WorkerProcess } from '../helpers/worker-process';

const BUCKET = 'strata-lease-test';
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
};

describe('apply lease: a retry on another machine never applies over an orphaned tool', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  const base = testConfig();
  const tmp = path.dirname(base.workDir);
  const outDir = path.join(tmp, 'cloud');
  const slowDir = path.join(tmp, 'cloud-slow');
  let machines: Record<'a' | 'b', StrataConfig>;
  const workers = workerProcesses(
    () => tmp,
    () => env.address,
  );
  let http: ReturnType<typeof api>;
  let stores: ReturnType<typeof createStores>;

  const machine = (name: string): StrataConfig =>
    testConfig({
      stacks: {
        'hello-local': {
          executor: 'tofu',
          path: base.stacks['hello-local'].path,
          verify: [{ type: 'replan' }],
          variables: { strata_data_dir: tmp, output_dir: outDir },
        },
        'tofu-slow': {
          executor: 'tofu',
          path: path.resolve(__dirname, '..', 'fixtures', 'tofu-slow'),
          variables: { output_dir: slowDir },
        },
      },
      stateStore: { kind: 's3', bucket: BUCKET, prefix: 'strata/', region: 'us-east-1', endpoint: moto.endpoint },
      workDir: path.join(tmp, name, 'work'),
      artifactsDir: path.join(tmp, name, 'artifacts'),
      temporal: { taskQueue: base.temporal.taskQueue },
    });

  const files = () => (fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => f.endsWith('.txt')) : []);

  /** The worker whose workspace holds the run's running apply (its pid file). */
  function applyingWorker(id: string, stack = 'hello-local'): WorkerProcess | undefined {
    return workers.all.find(
      (w) => w.alive() && fs.existsSync(path.join(w.config.workDir, stack, 'dev', id, '.strata-apply.pid')),
    );
  }

  /** `tofu apply` processes running on any machine right now (a restarted worker reuses its machine's workDir). */
  const applies = () =>
    [...new Set(workers.all.map((w) => w.config.workDir))].flatMap((dir) => toolRunsBelow(dir, /\/tofu apply /));

  /** Every apply watchdog's own log on every machine, for a failure's message. */
  const watchdogLogs = () =>
    [...new Set(workers.all.map((w) => w.config.workDir))]
      .filter((dir) => fs.existsSync(dir))
      .flatMap((dir) => (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)))
      .filter((f) => path.basename(f) === '.strata-watchdog.log')
      .map((f) => `${f}:\n${fs.readFileSync(f, 'utf8')}`)
      .join('\n');

  async function ended(id: string, timeoutMs = 180_000): Promise<Deployment> {
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

  beforeAll(async () => {
    Object.assign(process.env, AWS_ENV);
    moto = await startMoto();
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: MOTO_CREDENTIALS,
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    s3.destroy();
    machines = { a: machine('a'), b: machine('b') };
    stores = createStores(machines.a.stateStore, machines.a.artifactsDir, { s3: { credentials: MOTO_CREDENTIALS } });
    env = await startTemporal();
    http = api(createApp({ temporal: { client: env.client }, config: machines.a }));
    workers.start('a', machines.a, AWS_ENV);
    workers.start('b', machines.b, AWS_ENV);
    await eventually(async () => (await http.get('alice', '/ready')).status === 200, 'a worker to poll', 90_000);
  }, 150_000);

  afterAll(async () => {
    workers.killAll();
    await env?.teardown();
    await moto?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('SIGKILL of the applying worker: the other machine completes with exactly the planned resources', async () => {
    const variables = { message: 'leased', file_count: 100 };
    const id = await http.deploy('alice', { stack: 'hello-local', environment: 'dev', variables });
    await http.waitFor(id, ['applying'], 90_000);
    // Kill once tofu creates files: random_pet is decided, in the orphan's memory and in no state anywhere.
    await eventually(() => files().length >= 3, 'tofu apply to create files', 60_000, 5);
    const victim = applyingWorker(id);
    expect(victim).toBeDefined();
    victim!.signal('SIGKILL');
    const filesAtKill = files().length;
    const orphans = processesBelow(victim!.config.workDir);
    await eventually(() => !victim!.alive(), 'the killed worker to be gone', 10_000, 50);
    const killedAt = Date.now();

    const d = await ended(id);
    const survivor = workers.all.find((w) => w !== victim)!;
    console.info(
      `killed worker ${victim!.name} with ${filesAtKill}/100 files written; processes left running: ${orphans.length}; ` +
        `run ended ${d.status} ${Date.now() - killedAt} ms after the kill, on worker ${survivor.name}`,
    );
    expect(d.status).toBe('succeeded');
    expect(d.rollback).toBeUndefined();
    // One random_pet suffix on exactly 100 files: a second apply of the plan would have added 100 more.
    expect(files()).toHaveLength(100);
    expect(new Set(files().map((f) => f.replace(/^hello-\d+-/, ''))).size).toBe(1);
    const state = parseState((await stores.state.getCurrentState('hello-local', 'dev'))!.body);
    expect(state.resources.filter((r) => r.type === 'local_file')).toHaveLength(100);
    expect(state.resources.filter((r) => r.type === 'random_pet')).toHaveLength(1);
    expect(fs.readFileSync(path.join(outDir, files()[0]), 'utf8')).toBe('leased');
    const versions = await stores.state.listVersions('hello-local', 'dev');
    expect(versions.map((v) => [v.version, v.deploymentId])).toEqual([[1, id]]);
    // Nothing of the orphan keeps running on the killed machine.
    await eventually(() => processesBelow(victim!.config.workDir).length === 0, 'the orphan to end', 30_000, 200);
  });

  it('the orphan still runs when the retry arrives: the other machine waits for its lease, never applies beside it', async () => {
    if (workers.all.filter((w) => w.alive()).length < 2) {
      const dead = workers.all.find((w) => !w.alive())!;
      workers.start(`${dead.name}2`, dead.config, AWS_ENV);
    }
    // 40 s of sleep: the retry starts after the 20 s heartbeat timeout, while the orphan is still sleeping.
    const variables = { output_dir: slowDir, sleep: '40s' };
    const id = await http.deploy('alice', { stack: 'tofu-slow', environment: 'dev', variables });
    await http.waitFor(id, ['applying'], 90_000);
    await eventually(() => fs.existsSync(path.join(slowDir, 'before.txt')), 'the apply to reach the sleep', 60_000);
    const victim = applyingWorker(id, 'tofu-slow')!;
    expect(victim).toBeDefined();
    victim.signal('SIGKILL');
    const killedAt = Date.now();
    // Watch every machine until the run ends: never two applies of this stack at once.
    let most: string[] = [];
    const run = { over: false };
    const watching = (async () => {
      while (!run.over) {
        const now = applies();
        if (now.length > most.length) most = now;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const done = await ended(id).finally(() => (run.over = true));
    await watching;
    const survivor = workers.all.find((w) => w.alive() && w !== victim)!;
    const log = fs.readFileSync(path.join(survivor.config.artifactsDir, 'runs', id, 'log.jsonl'), 'utf8');
    console.info(
      `tofu-slow: killed worker ${victim.name} mid-sleep; run ended ${done.status} ${Date.now() - killedAt} ms later ` +
        `on worker ${survivor.name}; most applies at once: ${most.length} (${most.join(' | ')}); waited for the lease: ${/waiting for the apply lease/.test(log)}`,
    );
    expect(done.status).toBe('succeeded');
    expect(done.rollback).toBeUndefined();
    // Two at once: what every watchdog wrote (renewals, stops, releases) is what tells how the lease passed on.
    if (most.length > 1) console.error(`two applies at once; the watchdogs wrote:\n${watchdogLogs()}`);
    expect(most).toHaveLength(1);
    expect(log).toMatch(/waiting for the apply lease/);
    expect(fs.readdirSync(slowDir).sort()).toEqual(['after.txt', 'before.txt']);
    const state = parseState((await stores.state.getCurrentState('tofu-slow', 'dev'))!.body);
    expect(state.resources.map((r) => r.address).sort()).toEqual(done.plan!.resources.map((r) => r.address).sort());
    expect((await stores.state.listVersions('tofu-slow', 'dev')).map((v) => v.deploymentId)).toEqual([id]);
  });
});
