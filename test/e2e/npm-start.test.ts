/**
 * The quick start as a user runs it: `bash scripts/start.sh` (what `npm start` runs) with its own Temporal dev
 * server, worker and API, on free loopback ports and with STRATA_DATA_DIR in a temp dir, so neither the
 * repository's .data nor a `npm start` already running on this machine is touched. Everything is observed
 * from outside: HTTP, the script's output and /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { poll } from '../helpers/poll';
import { eventually } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '..', '..');
const ALICE = { Authorization: 'Bearer alice-deployer-dev-token' };

interface Ports {
  api: number;
  temporal: number;
  ui: number;
}

/** One `start.sh` run: the script's process (leader of its own group) and everything it printed. */
interface Instance {
  child: ChildProcess;
  ports: Ports;
  output: () => string;
  exited: Promise<number | null>;
}

/** Every process-group leader seen (start.sh and each child it started), for the kill -9 in afterAll. */
const groups = new Set<number>();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-e2e-'));

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Free loopback ports below the kernel's ephemeral range. The kernel never hands those out for bind(0) or as a
 * client's source port, so between choosing a port and the server binding it (and again while the killed dev
 * server is down) no other test's server takes it, and no client retrying a connection to it can self-connect
 * (source port = destination port), which would make start.sh believe a Temporal server answers there.
 */
async function freePorts(): Promise<Ports> {
  const [ephemeralLow] = fs
    .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const min = 10_000;
  const max = ephemeralLow > min + 1000 ? ephemeralLow : 65_535;
  const taken = new Set<number>();
  const next = async () => {
    for (;;) {
      const p = min + Math.floor(Math.random() * (max - min));
      if (!taken.has(p) && (await canListen(p))) return taken.add(p) && p;
    }
  };
  return { api: await next(), temporal: await next(), ui: await next() };
}

/** Pids of the children start.sh reports (`[strata] started <name> (pid N, ...)`), in order. */
/**
 * SIGKILLs the process group a supervised child leads. The supervisor prints the pid as soon as it has forked,
 * which can be a moment before the child's setsid() has made that group: until it exists the kill is retried.
 */
async function killGroup(pid: number): Promise<void> {
  for (let waited = 0; ; waited += 10) {
    try {
      process.kill(-pid, 'SIGKILL');
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH' || waited >= 5_000) throw err;
      // The child itself gone already (its group with it): it is down, as the kill meant it to be.
      if (readProc(String(pid), 'stat') === '') return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function startedPids(out: string, name: string): number[] {
  return [...out.matchAll(new RegExp(`\\[strata\\] started ${name} \\(pid (\\d+)`, 'g'))].map((m) => Number(m[1]));
}

function start(ports: Ports): Instance {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Whatever the developer's shell points Strata at must not leak into the isolated instance, and jest's own
  // markers would silence the processes' logs (src/shared/logger.ts).
  for (const k of [
    'NODE_ENV',
    'JEST_WORKER_ID',
    'STRATA_CONFIG',
    'STRATA_STATE_DIR',
    'STRATA_WORK_DIR',
    'STRATA_ARTIFACTS_DIR',
    'TEMPORAL_DB_FILE',
    'TEMPORAL_NAMESPACE',
    'TEMPORAL_TASK_QUEUE',
  ]) {
    delete env[k];
  }
  Object.assign(env, {
    PORT: String(ports.api),
    HOST: '127.0.0.1',
    TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
    TEMPORAL_UI_PORT: String(ports.ui),
    STRATA_DATA_DIR: dataDir,
    // The supervisor's restart delay doubles from 1 s. Here it starts at 3 s, so an outage outlasts /ready's 2 s
    // probe and is seen, and stops at 4 s, so the crash-loop test stays short.
    STRATA_RESTART_BASE_DELAY: '3',
    STRATA_RESTART_MAX_DELAY: '4',
  });
  // detached: start.sh leads its own process group, like a shell job; SIGINT reaches only the script.
  const child = spawn('bash', ['scripts/start.sh'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.add(child.pid!);
  let out = '';
  const collect = (b: Buffer) => {
    out += b.toString('utf8');
    for (const m of out.matchAll(/\[strata\] started \w+ \(pid (\d+)/g)) groups.add(Number(m[1]));
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ports, output: () => out, exited };
}

async function http(ports: Ports, urlPath: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${ports.api}${urlPath}`, { ...init, signal: AbortSignal.timeout(8000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

const status = async (ports: Ports, urlPath: string) =>
  (await http(ports, urlPath).catch(() => ({ status: 0 }))).status;

function logsTail(): string {
  const dir = path.join(dataDir, 'logs');
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir)
    .map((f) => `--- ${f}\n${fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
}

/** Waits for the banner and /ready 200, failing at once (with the output) if start.sh gives up. */
async function startAndWait(ports: Ports): Promise<Instance> {
  const inst = start(ports);
  let exitCode: number | null | undefined;
  void inst.exited.then((c) => (exitCode = c));
  await poll(
    async () => {
      if (inst.output().includes('Strata is running') && (await status(ports, '/ready')) === 200) return true;
      if (exitCode !== undefined) throw new Error(`start.sh exited with ${exitCode}\n${inst.output()}\n${logsTail()}`);
      return false;
    },
    {
      what: () => `start.sh to be ready\n${inst.output()}\n${logsTail()}`,
      timeoutMs: 120_000,
      everyMs: 250,
      errors: 'throw',
    },
  );
  return inst;
}

function readProc(pid: string, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Live processes that belong to an instance: the temp dir or one of its ports in their cmdline or environment. */
function leftovers(ports: Ports): string[] {
  const marks = [dataDir, `127.0.0.1:${ports.temporal}`, `--port ${ports.temporal}`, `PORT=${ports.api}`];
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const cmd = readProc(pid, 'cmdline').replace(/\0/g, ' ');
    const env = readProc(pid, 'environ').replace(/\0/g, '\n');
    const state = /^State:\s+(\w)/m.exec(readProc(pid, 'status'))?.[1];
    if (state === 'Z') continue; // exited, waiting for its parent to reap it: not running anything
    if (marks.some((m) => cmd.includes(m) || env.split('\n').some((line) => line.endsWith(m) || line === m)))
      found.push(`${pid} ${cmd.trim()}`);
  }
  return found;
}

/** Asserts no process of an instance remains (killed ones get a moment to leave the process table). */
async function waitNoLeftovers(ports: Ports): Promise<void> {
  await eventually(() => leftovers(ports).length === 0, 'no process of the instance to remain', 3000, 100).catch(
    () => undefined,
  );
  expect(leftovers(ports)).toEqual([]);
}

/** SIGINT to start.sh as Ctrl-C would; resolves with how long it took to exit. */
async function interrupt(inst: Instance): Promise<{ ms: number; code: number | null }> {
  const t0 = Date.now();
  process.kill(inst.child.pid!, 'SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    inst.exited,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 15_000))),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') throw new Error('start.sh still running 15 s after SIGINT');
  return { ms: Date.now() - t0, code };
}

/** Runs a step; on failure the error carries start.sh's output and the tail of each log, to see why. */
async function step<T>(inst: Instance, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as Error;
    e.message = `${e.message}\n--- start.sh output\n${inst.output()}\n${logsTail()}`;
    throw e;
  }
}

function pgidOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces, so split after the ')'.
  const stat = readProc(String(pid), 'stat');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('npm start (scripts/start.sh) as a user runs it', () => {
  let first: Instance;
  let deploymentId: string;

  beforeAll(async () => {
    first = await startAndWait(await freePorts());
  }, 130_000);

  afterAll(() => {
    for (const pid of groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // group already gone
      }
    }
    // Anything that escaped its group (it would still carry STRATA_DATA_DIR in its environment).
    for (const line of leftovers({ api: -1, temporal: -1, ui: -1 })) {
      try {
        process.kill(Number(line.split(' ')[0]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers /health, /ready, the Temporal UI and the stacks API (401 without a token)', () =>
    step(first, async () => {
      const { ports } = first;
      expect(await http(ports, '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await http(ports, '/ready')).toMatchObject({ status: 200, body: { ready: true, temporal: true } });
      const ui = await fetch(`http://127.0.0.1:${ports.ui}/`, { signal: AbortSignal.timeout(8000) });
      expect(ui.status).toBe(200);
      await ui.arrayBuffer();

      const stacks = await http(ports, '/api/v1/stacks', { headers: ALICE });
      expect(stacks.status).toBe(200);
      expect(stacks.body.items.map((s: { name: string }) => s.name)).toEqual(
        expect.arrayContaining(['hello-local', 'sim-multicloud', 'web-aws']),
      );
      const anonymous = await http(ports, '/api/v1/stacks');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error.code).toBe('UNAUTHENTICATED');

      expect(first.output()).toContain(`http://127.0.0.1:${ports.api}`);
      expect(first.output()).toContain(`http://127.0.0.1:${ports.ui}`);
      // Logs and the dev server's SQLite file live in the data dir, not in the repository's .data.
      expect(fs.existsSync(path.join(dataDir, 'logs', 'api.log'))).toBe(true);
      expect(fs.existsSync(path.join(dataDir, 'temporal.sqlite'))).toBe(true);
    }));

  it('deploys hello-local to dev over HTTP: succeeded, files written', () =>
    step(first, async () => {
      const { ports } = first;
      // The stack writes under strata_data_dir (default: the repository's .data); point it at the temp dir.
      const res = await http(ports, '/api/v1/deployments', {
        method: 'POST',
        headers: { ...ALICE, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          stack: 'hello-local',
          environment: 'dev',
          variables: { strata_data_dir: dataDir, file_count: 2 },
        }),
      });
      expect(res.status).toBe(202);
      deploymentId = res.body.id;
      const done = await eventually(
        async () => {
          const d = (await http(ports, `/api/v1/deployments/${deploymentId}`, { headers: ALICE })).body;
          if (['failed', 'rolled_back', 'cancelled'].includes(d.status))
            throw new Error(`run ended ${d.status}: ${JSON.stringify(d.error)}`);
          return d.status === 'succeeded' && d;
        },
        'the hello-local run to succeed',
        90_000,
      );
      expect(done).toMatchObject({ stack: 'hello-local', environment: 'dev', stateVersion: 1, requestedBy: 'alice' });
      const files = fs.readdirSync(path.join(dataDir, 'out', 'dev')).filter((f) => f.endsWith('.txt'));
      expect(files).toHaveLength(2);
      // State, work and artifacts went to the data dir too.
      for (const d of ['state', 'work', 'artifacts']) expect(fs.existsSync(path.join(dataDir, d))).toBe(true);
    }));

  it('a killed dev server makes /ready 503, the supervisor restarts it and /ready is 200 again, API untouched', () =>
    step(first, async () => {
      const { ports } = first;
      const [apiPid] = startedPids(first.output(), 'api');
      // The dev server is the process serving the gRPC port: `temporal server start-dev ... --port <port>`.
      const server = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .find((p) => {
          const cmd = readProc(p, 'cmdline').split('\0');
          return cmd.includes('start-dev') && cmd[cmd.indexOf('--port') + 1] === String(ports.temporal);
        });
      expect(server).toBeDefined();
      const pgid = pgidOf(Number(server));
      expect(startedPids(first.output(), 'temporal')).toEqual([pgid]); // it is the group start.sh started
      const t0 = Date.now();
      process.kill(-pgid, 'SIGKILL');

      await eventually(async () => (await status(ports, '/ready')) === 503, '/ready to answer 503', 10_000, 200);
      const downAfter = Date.now() - t0;
      expect(await status(ports, '/health')).toBe(200);

      await eventually(async () => (await status(ports, '/ready')) === 200, '/ready to answer 200 again', 60_000, 250);
      const upAfter = Date.now() - t0;
      expect(startedPids(first.output(), 'temporal')).toHaveLength(2); // restarted by the supervisor...
      expect(startedPids(first.output(), 'api')).toEqual([apiPid]); // ...while the API kept running
      expect(readProc(String(apiPid), 'cmdline')).toContain('src/api/server.ts');
      // The restarted server reopened the same SQLite file: the first run is still there.
      const d = await http(ports, `/api/v1/deployments/${deploymentId}`, { headers: ALICE });
      expect(d.body.status).toBe('succeeded');
      console.info(`dev server killed: /ready 503 after ${downAfter} ms, 200 again after ${upAfter} ms`);
    }));

  it('a worker killed 6 times in a row comes back each time; API and dev server stay up; /ready names the worker', () =>
    step(first, async () => {
      const { ports } = first;
      const apiPids = startedPids(first.output(), 'api');
      const temporalPids = startedPids(first.output(), 'temporal');
      let exitCode: number | null | undefined;
      void first.exited.then((c) => (exitCode = c));
      const kills = 6;
      const namedDown: boolean[] = [];
      for (let i = 0; i < kills; i++) {
        const before = startedPids(first.output(), 'worker');
        // Each replacement is killed as soon as it is started: a worker that crash-loops.
        await killGroup(before[before.length - 1]);
        let sawDown = false;
        await eventually(
          async () => {
            if (exitCode !== undefined) throw new Error(`start.sh exited with ${exitCode} after kill ${i + 1}`);
            const r = await http(ports, '/ready').catch(() => undefined);
            if (r?.status === 503 && Array.isArray(r.body?.down) && r.body.down.includes('worker')) sawDown = true;
            return startedPids(first.output(), 'worker').length > before.length;
          },
          `the supervisor to restart the worker after kill ${i + 1}`,
          60_000,
          100,
        );
        namedDown.push(sawDown);
        expect(await status(ports, '/health')).toBe(200);
      }
      // The crash loop is over: the last replacement lives, polls, and the deployment can make progress again.
      await eventually(async () => (await status(ports, '/ready')) === 200, '/ready to answer 200 again', 90_000, 250);
      expect(startedPids(first.output(), 'worker').length).toBeGreaterThanOrEqual(kills + 1);
      expect(startedPids(first.output(), 'api')).toEqual(apiPids);
      expect(startedPids(first.output(), 'temporal')).toEqual(temporalPids);
      // The ones started last are the live ones (an earlier test killed the first dev server on purpose).
      for (const pid of [apiPids.at(-1), temporalPids.at(-1)]) expect(readProc(String(pid), 'stat')).not.toBe('');
      expect(exitCode).toBeUndefined();
      expect(namedDown).toEqual(Array(kills).fill(true));
      expect(first.output()).toMatch(/\[strata\] worker is down/);
      expect(first.output()).toMatch(/\[strata\] worker is crash-looping/);
      expect(first.output()).toMatch(/\[strata\] worker is up again/);
      const res = await http(ports, '/api/v1/deployments', {
        method: 'POST',
        headers: { ...ALICE, 'Content-Type': 'application/json' },
        body: JSON.stringify({ stack: 'sim-multicloud', environment: 'dev', variables: { instance_count: 1 } }),
      });
      expect(res.status).toBe(202);
      await eventually(
        async () =>
          (await http(ports, `/api/v1/deployments/${res.body.id}`, { headers: ALICE })).body.status === 'succeeded',
        'a deployment after the crash loop to succeed',
        90_000,
      );
    }));

  it('SIGINT stops everything within 15 s and leaves no process behind', () =>
    step(first, async () => {
      const { ms } = await interrupt(first);
      expect(ms).toBeLessThan(15_000);
      expect(first.output()).toContain('[strata] stopped');
      await waitNoLeftovers(first.ports);
      expect(await status(first.ports, '/health')).toBe(0);
    }));

  it('a second start on the same data dir finds the first run (SQLite persisted), and stops cleanly too', async () => {
    const second = await startAndWait(await freePorts());
    await step(second, async () => {
      const d = await http(second.ports, `/api/v1/deployments/${deploymentId}`, { headers: ALICE });
      expect(d.status).toBe(200);
      expect(d.body).toMatchObject({ id: deploymentId, status: 'succeeded', stack: 'hello-local' });
      const list = await http(second.ports, '/api/v1/deployments?stack=hello-local', { headers: ALICE });
      expect(list.body.items.map((i: { id: string }) => i.id)).toContain(deploymentId);
      const state = await http(second.ports, '/api/v1/stacks/hello-local/environments/dev/state', { headers: ALICE });
      expect(state.body).toMatchObject({ version: 1, deploymentId });

      const { ms } = await interrupt(second);
      expect(ms).toBeLessThan(15_000);
      await waitNoLeftovers(second.ports);
    });
  });
});
