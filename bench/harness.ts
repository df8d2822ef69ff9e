/**
 * The benchmark's world: a private Temporal dev server, the Strata worker as its own child process (so its RSS is
 * its own), the API in this process over HTTP on loopback, and the statistics and HTTP helpers every section uses.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client } from '@temporalio/client';
import pino from 'pino';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../src/api/app';
import { dataConverterFor } from '../src/client';
import { TERMINAL_STATUSES } from '../src/contracts/runs';
import { loadConfig, type StrataConfig } from '../src/shared/config';
import { startTemporal } from '../test/helpers/temporal';

/** The repository root: the checkout being measured. */
export const ROOT = path.resolve(__dirname, '..');

/** Environments of the bench config; every name is created in strata.bench.yaml. */
export const ENVS = {
  /** hello-local, one per size so a sample never also changes file_count. */
  raw: (n: number) => `n${n}`,
  /** Throughput: one per in-flight deployment, 0 approvals. */
  throughput: (i: number) => `t${i}`,
  /** Approval round trip: one per waiting run, 1 approval. */
  approval: (i: number) => `a${i}`,
  /** Open runs: one per open run, 1 approval, so each run holds its own stack+environment lock while it waits. */
  open: (i: number) => `o${i}`,
};

/** How many environments of each kind the config declares (upper bounds of the sections' parameters). */
export interface EnvCounts {
  throughput: number;
  approval: number;
  open: number;
}

/** The demo users' bearer tokens (testConfig's): alice deploys, bob approves, carol administers. */
export const TOKENS = {
  alice: 'alice-deployer-dev-token',
  bob: 'bob-approver-dev-token',
  carol: 'carol-admin-dev-token',
} as const;
/** A demo user the API client speaks as. */
export type User = keyof typeof TOKENS;

/** The raw config the bench writes: testConfig's tokens, environments and stacks, with the knobs the sections need. */
export function benchConfigRaw(tmp: string, address: string, counts: EnvCounts): Record<string, unknown> {
  const free = { approvals: { required: 0 }, autoRollback: true };
  const gated = { approvals: { required: 1, fourEyes: true, timeout: '24h' }, autoRollback: true };
  const environments: Record<string, unknown> = { dev: free, [ENVS.raw(10)]: free, [ENVS.raw(100)]: free };
  for (let i = 0; i < counts.throughput; i++) environments[ENVS.throughput(i)] = free;
  for (let i = 0; i < counts.approval; i++) environments[ENVS.approval(i)] = gated;
  for (let i = 0; i < counts.open; i++) environments[ENVS.open(i)] = gated;
  const helloLocal = {
    executor: 'tofu',
    path: path.join(ROOT, 'stacks/hello-local'),
    variables: { strata_data_dir: path.join(tmp, 'data') },
  };
  return {
    temporal: { address, namespace: 'default', taskQueue: `strata-bench-${randomUUID()}` },
    auth: {
      tokens: [
        { token: TOKENS.alice, subject: 'alice', roles: ['deployer', 'viewer'] },
        { token: TOKENS.bob, subject: 'bob', roles: ['approver', 'viewer'] },
        { token: TOKENS.carol, subject: 'carol', roles: ['admin'] },
      ],
      // The bench sends bursts of changes from one caller: measure the orchestration, not the per-caller limit.
      rateLimitPerMinute: 0,
    },
    // As the quick start ships: payloads encrypted in Temporal (that cost is part of what users run).
    codec: { keys: [{ id: 'bench-1', file: 'codec.key', generate: true }] },
    // BENCH_WORKER: the config's `worker` section as JSON, to compare tunings (default: as shipped).
    ...(process.env.BENCH_WORKER ? { worker: JSON.parse(process.env.BENCH_WORKER) as unknown } : {}),
    environments,
    providers: {
      aws: { region: 'us-west-1' },
      gcp: { region: 'us-central1' },
      azure: { region: 'eastus' },
      dummy: { region: 'test-region' },
    },
    stacks: {
      // Verification off: the raw comparison is plan + apply against plan + apply.
      'hello-local': { ...helloLocal, verify: [] },
      // The same stack with the shipped re-plan verification, to price that step on its own.
      'hello-local-verified': { ...helloLocal, verify: [{ type: 'replan' }] },
      'sim-multicloud': {
        executor: 'simulated',
        path: path.join(ROOT, 'stacks/sim-multicloud'),
        failoverOrder: ['aws', 'gcp', 'azure'],
        verify: [{ type: 'output', output: 'healthy', equals: true }],
      },
    },
    failoverGroups: {
      // strata.yaml's quick-start group, without the approval wait: RTO is the machine's part only.
      web: {
        provider: 'simulated',
        primary: { region: 'us-east-1', capacity: 3 },
        secondary: { region: 'us-west-2' },
        approval: { required: 0 },
      },
    },
    // The config file lives in a temp dir: every repository path is absolute.
    policy: { dir: path.join(ROOT, 'policies') },
    pricing: { table: path.join(ROOT, 'pricing/2026-11-01.yaml') },
    releases: { dir: path.join(ROOT, 'releases') },
    stateStore: { kind: 'filesystem', path: path.join(tmp, 'state') },
    workDir: path.join(tmp, 'work'),
    artifactsDir: path.join(tmp, 'artifacts'),
    keysDir: path.join(tmp, 'keys'),
  };
}

/** A child node process running a TypeScript entry point; `ready` resolves at the first stdout line matching. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Last lines of its output, for an error message. */
  tail(): string;
  stop(): Promise<void>;
}

/** BENCH_COMPILED=1: the workers run tsc's JavaScript rather than their TypeScript through tsx. */
export const workersCompiled = () => Boolean(process.env.BENCH_COMPILED);

const COMPILED_DIR = path.join(ROOT, 'node_modules', '.cache', 'strata', 'bench-build');
let compiledOnce = false;

/** `entry` (a .ts path from the root) as tsc's JavaScript, compiled once per bench run (tsconfig.bench.json). */
function compiledEntry(entry: string): string {
  if (!compiledOnce) {
    fs.rmSync(COMPILED_DIR, { recursive: true, force: true });
    execFileSync('npx', ['tsc', '-p', 'tsconfig.bench.json', '--outDir', COMPILED_DIR], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    compiledOnce = true;
  }
  return path.join(COMPILED_DIR, entry.replace(/\.ts$/, '.js'));
}

/**
 * Spawns `scripts/worker.sh --import tsx <entry>` (or the compiled entry, see workersCompiled; node with the worker's
 * memory settings) and waits (up to 3 min:
 * it bundles workflows) for a line matching `ready`.
 * `env` adds to this process's environment; an undefined value removes the variable.
 */
export async function spawnNode(entry: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<Child> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  // BENCH_NODE_ARGS: extra node flags for the workers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them.
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // Through scripts/worker.sh, as `npm start` runs the worker: the same V8 and malloc settings on both sides.
  // BENCH_COMPILED=1: both sides' workers run tsc's JavaScript (as the container image does), no tsx in any thread.
  const run = workersCompiled() ? [compiledEntry(entry)] : ['--import', 'tsx', entry];
  const proc = spawn('bash', ['scripts/worker.sh', ...extra, ...run], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let seen = false;
  let onReady: () => void = () => undefined;
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      if (!seen && ready.test(line)) {
        seen = true;
        onReady();
      }
      lines.push(line.slice(0, 500));
      if (lines.length > 40) lines.shift();
    }
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const tail = () => lines.join('\n');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} not ready after 180 s:\n${tail()}`)), 180_000);
    onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    if (seen) onReady();
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited before it was ready:\n${tail()}`));
    });
  });
  return {
    proc,
    pid: proc.pid!,
    tail,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Resident set size and its peak of a process, in MiB, from /proc. */
export function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux unless built otherwise). */
let ticksPerSecond: number | undefined;

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may hold spaces): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond;
}

/** This process's CPU time so far, in ms. */
export const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** The pid of the Temporal dev server listening on `address` (host:port), found by its command line. */
export function serverPid(address: string): number | undefined {
  const port = address.split(':').pop();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd: string[];
    try {
      cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (cmd.includes('start-dev') && cmd.some((a, i) => a === port && cmd[i - 1] === '--port')) return Number(entry);
  }
  return undefined;
}

/** The API over HTTP, speaking as the demo users. */
export class Api {
  /** GETs of a run answered 503 while polling it (the query found no worker in time), retried. */
  unavailable = 0;

  constructor(readonly base: string) {}

  async call(user: User, method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.base}${url}`, {
      method,
      headers: { Authorization: `Bearer ${TOKENS[user]}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }

  /** POST /api/v1/deployments as alice; the run's id (throws on anything but 202). */
  async deploy(body: Record<string, unknown>): Promise<string> {
    const r = await this.call('alice', 'POST', '/api/v1/deployments', body);
    if (r.status !== 202) throw new Error(`POST /api/v1/deployments ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json.id as string;
  }

  async run(id: string): Promise<any> {
    const r = await this.call('alice', 'GET', `/api/v1/deployments/${id}`);
    if (r.status !== 200) throw new Error(`GET /api/v1/deployments/${id} ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** Polls the run every `everyMs` until `done(status)`; the run document then. */
  async waitFor(id: string, done: (status: string) => boolean, everyMs: number, timeoutMs = 600_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.call('alice', 'GET', `/api/v1/deployments/${id}`);
      // A busy worker can miss the query's deadline: the API says 503 and the poll goes on, counted.
      if (r.status === 503 && Date.now() < deadline) {
        this.unavailable++;
        await sleep(everyMs);
        continue;
      }
      if (r.status !== 200) throw new Error(`GET /api/v1/deployments/${id} ${r.status}: ${JSON.stringify(r.json)}`);
      const d = r.json;
      if (done(d.status)) return d;
      if (Date.now() > deadline) throw new Error(`run ${id} still ${d.status} after ${timeoutMs} ms`);
      await sleep(everyMs);
    }
  }

  /**
   * Waits until the run ends with `GET …/:id?wait=60` (the server long-polls the run's history: no polling load on
   * the worker, no poll interval in the measurement); throws unless it ended `want`.
   */
  async finish(id: string, want = 'succeeded', timeoutMs = 600_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let d: any;
    for (;;) {
      const r = await this.call('alice', 'GET', `/api/v1/deployments/${id}?wait=60`);
      if (r.status === 503 && Date.now() < deadline) {
        this.unavailable++;
        continue;
      }
      if (r.status !== 200) throw new Error(`GET /api/v1/deployments/${id} ${r.status}: ${JSON.stringify(r.json)}`);
      d = r.json;
      if ((TERMINAL_STATUSES as readonly string[]).includes(d.status)) break;
      if (Date.now() > deadline) throw new Error(`run ${id} still ${d.status} after ${timeoutMs} ms`);
    }
    if (d.status !== want)
      throw new Error(`run ${id} ended ${d.status}, not ${want}: ${JSON.stringify(d.error ?? d.planNotes ?? '')}`);
    return d;
  }
}

/** Everything running for a bench. */
export interface World {
  env: TestWorkflowEnvironment;
  config: StrataConfig;
  configFile: string;
  tmp: string;
  api: Api;
  /** A client speaking the config's codec, for the bare-Temporal section. */
  client: Client;
  worker: Child;
  /** Worker RSS right after start-up, before any section ran. */
  idleRss: { rss: number; peak: number };
  stop(): Promise<void>;
}

/** Starts the server, writes strata.bench.yaml, spawns the Strata worker and serves the API on a loopback port. */
export async function startWorld(counts: EnvCounts): Promise<World> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-'));
  const env = await startTemporal();
  const configFile = path.join(tmp, 'strata.bench.yaml');
  // JSON is YAML: loadConfig reads it like any strata.yaml.
  fs.writeFileSync(configFile, JSON.stringify(benchConfigRaw(tmp, env.address, counts), null, 2));
  const config = loadConfig(configFile, {});
  const client = new Client({
    connection: env.connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config),
  });
  // The API first: it generates the shared signer and codec keys the worker then reads.
  // The API logs at info like a deployed one; the lines go nowhere so the report stays readable.
  const logger = pino({ level: 'info', base: { component: 'api' } }, pino.destination('/dev/null'));
  const server = http.createServer(createApp({ temporal: { client }, config, logger }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let worker: Child | undefined;
  try {
    worker = await spawnNode(
      'src/worker/main.ts',
      {
        STRATA_CONFIG: configFile,
        // The file decides where Temporal is, whatever the caller's shell exports.
        TEMPORAL_ADDRESS: config.temporal.address,
        TEMPORAL_NAMESPACE: config.temporal.namespace,
        TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
        STRATA_STATE_DIR: undefined,
        STRATA_WORK_DIR: undefined,
        STRATA_ARTIFACTS_DIR: undefined,
        STRATA_KEYS_DIR: undefined,
        STRATA_DATA_DIR: undefined,
        STRATA_LOG_FILE: undefined,
        // Info, as a worker runs by default; its lines are read and dropped here.
        LOG_LEVEL: process.env.BENCH_WORKER_LOG_LEVEL ?? 'info',
      },
      /worker polling/,
    );
  } catch (err) {
    server.close();
    await env.teardown();
    throw err;
  }
  await sleep(2000);
  const idleRss = rssMiB(worker.pid);
  return {
    env,
    config,
    configFile,
    tmp,
    api: new Api(base),
    client,
    worker,
    idleRss,
    async stop() {
      server.closeAllConnections?.();
      server.close();
      await worker.stop();
      await env.teardown();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// ---- statistics ----------------------------------------------------------------------------------------------

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The p-th percentile (nearest rank) of xs. */
export function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
/** The median of xs (mean of the middle two for an even count). */
export const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Milliseconds as `12.3 ms` or `4.56 s`. */
export const fmtMs = (x: number) =>
  !Number.isFinite(x) ? 'n/a' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`;
/** A ratio as `2.50×`. */
export const fmtX = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');

/** Wall time of fn in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
}

/** Runs `total` jobs with at most `width` in flight; the wall time in ms. */
export async function pool(
  total: number,
  width: number,
  job: (i: number, slot: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(width, total) }, async (_, slot) => {
      while (next < total) await job(next++, slot);
    }),
  );
  return performance.now() - t;
}

/** One markdown section of the report. */
export interface Section {
  title: string;
  /** Markdown body: tables and notes. */
  body: string;
}

/** A markdown table. */
export function table(head: string[], rows: (string | number)[][], align?: ('l' | 'r')[]): string {
  const a = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [
    `| ${head.join(' | ')} |`,
    `| ${a.map((x) => (x === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
