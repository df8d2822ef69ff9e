/**
 * The system under chaos, every part a real process on loopback: a Temporal dev server on a SQLite file and a
 * fixed port (so it can be killed and restarted on the same history), the worker (`tsx src/worker/main.ts`)
 * and the API (`tsx src/api/server.ts`), all over one strata.yaml in a temp dir. The test process only
 * observes: HTTP to the API, a Temporal client for lock queries and visibility, the stores on disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import YAML from 'yaml';
import { SimulatedCloud } from '../../../src/executors/simulated/persistence';
import { parseConfig, type StrataConfig } from '../../../src/shared/config';
import { createStores, type Stores } from '../../../src/store';
import { runIdFromWorkflowId, TERMINAL_STATUSES, type Deployment } from '../../../src/contracts/runs';
import { lockStateQuery, stackLockWorkflowId, type StackLockState } from '../../../src/contracts/lock';
import { eventually } from '../../helpers/temporal';
import { TOKENS, type User } from '../../helpers/api-client';
import { toolPath } from '../../helpers/tools';
import { freePorts, groupAlive, killAllStarted, reachable, signalGroup, startProc, tail, type Proc } from './procs';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

export interface WorldSpec {
  /** Environment name → approvals required (0 = auto-approve). */
  environments: Record<string, number>;
  failoverGroups?: Record<string, unknown>;
  /** Endpoint the worker's AWS SDK clients use (moto, through the suite's proxy). */
  awsEndpoint?: string;
}

/** An HTTP answer from the API child; status 0 when the request itself failed (connection refused, reset). */
export interface HttpAnswer {
  status: number;
  body: any;
  error?: string;
}

export class World {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-chaos-'));
  readonly configFile = path.join(this.dir, 'strata.yaml');
  readonly dbFile = path.join(this.dir, 'temporal.sqlite');
  readonly logs = path.join(this.dir, 'logs');
  config!: StrataConfig;
  stores!: Stores;
  cloud!: SimulatedCloud;
  client!: Client;
  ports!: { temporal: number; ui: number; api: number };
  temporal?: Proc;
  worker?: Proc;
  api?: Proc;
  /** Every worker started, in order (the trials report which one a kill hit). */
  readonly workers: Proc[] = [];
  private connection?: Connection;

  constructor(private readonly spec: WorldSpec) {}

  get address(): string {
    return `127.0.0.1:${this.ports.temporal}`;
  }

  /** Where hello-local writes its files for `environment`. */
  outDir(environment: string): string {
    return path.join(this.dir, 'out', environment);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.logs, { recursive: true });
    const [temporal, ui, api] = await freePorts(3);
    this.ports = { temporal, ui, api };
    const raw = {
      temporal: { address: this.address, taskQueue: 'strata-chaos' },
      api: { host: '127.0.0.1', port: api },
      auth: {
        tokens: [
          { token: TOKENS.alice, subject: 'alice', roles: ['deployer', 'viewer'] },
          { token: TOKENS.bob, subject: 'bob', roles: ['approver', 'viewer'] },
          { token: TOKENS.carol, subject: 'carol', roles: ['admin'] },
        ],
        // The burst trial sends 500 changes from one caller on purpose: the per-caller limit is tested elsewhere.
        rateLimitPerMinute: 0,
      },
      environments: Object.fromEntries(
        Object.entries(this.spec.environments).map(([name, required]) => [
          name,
          { approvals: { required, timeout: '1h' }, autoRollback: true },
        ]),
      ),
      providers: { aws: { region: 'us-west-1' }, gcp: { region: 'us-central1' }, azure: { region: 'eastus' } },
      stacks: {
        'hello-local': {
          executor: 'tofu',
          path: path.join(ROOT, 'stacks/hello-local'),
          verify: [{ type: 'replan' }],
          variables: { strata_data_dir: this.dir },
        },
        'sim-multicloud': {
          executor: 'simulated',
          path: path.join(ROOT, 'stacks/sim-multicloud'),
          failoverOrder: ['aws', 'gcp', 'azure'],
          verify: [{ type: 'output', output: 'healthy', equals: true }],
        },
      },
      failoverGroups: this.spec.failoverGroups ?? {},
      // Every version is kept: the suite counts them (exactly one per completed run).
      stateStore: { kind: 'filesystem', path: path.join(this.dir, 'state'), retainVersions: 1000 },
      workDir: path.join(this.dir, 'work'),
      artifactsDir: path.join(this.dir, 'artifacts'),
    };
    fs.writeFileSync(this.configFile, YAML.stringify(raw));
    this.config = parseConfig(raw, ROOT, {});
    this.stores = createStores(this.config.stateStore, this.config.artifactsDir);
    this.cloud = new SimulatedCloud(this.stores.artifacts);
    await this.startTemporal();
    this.connection = await Connection.connect({ address: this.address });
    this.client = new Client({ connection: this.connection, namespace: 'default' });
    await this.startApi();
    await this.waitPolling(this.startWorker());
  }

  /** The environment every child gets: this world's config, nothing from the developer's shell. */
  private childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of [
      'JEST_WORKER_ID',
      'STRATA_STATE_DIR',
      'STRATA_WORK_DIR',
      'STRATA_ARTIFACTS_DIR',
      'STRATA_SUPERVISOR_STATUS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'PORT',
      'HOST',
    ])
      delete env[k];
    return {
      ...env,
      // Logs as the real processes write them (jest's markers would silence them), for the failure messages.
      NODE_ENV: 'production',
      STRATA_CONFIG: this.configFile,
      TEMPORAL_ADDRESS: this.address,
      STRATA_FAILOVER_DIR: path.join(this.dir, 'failover'),
      ...(this.spec.awsEndpoint
        ? { AWS_ENDPOINT_URL: this.spec.awsEndpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }
        : {}),
      ...extra,
    };
  }

  /** Starts the dev server on this world's SQLite file and port; resolves once it answers gRPC. */
  async startTemporal(): Promise<Proc> {
    const attrs = fs
      .readFileSync(path.join(ROOT, 'temporal/search-attributes.txt'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .flatMap((a) => ['--search-attribute', `${a.trim()}=Keyword`]);
    const p = startProc(
      'temporal',
      toolPath('TEMPORAL_CLI'),
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(this.ports.temporal),
        '--ui-port',
        String(this.ports.ui),
        '--headless',
        '--db-filename',
        this.dbFile,
        '--namespace',
        'default',
        '--log-level',
        'error',
        ...attrs,
        '--dynamic-config-value',
        'frontend.enableUpdateWorkflowExecution=true',
      ],
      { cwd: this.dir, env: this.childEnv(), log: path.join(this.logs, 'temporal.log') },
    );
    this.temporal = p;
    await eventually(
      async () => {
        if (!p.isAlive()) throw new Error(`dev server exited:\n${p.output()}`);
        return reachable(this.ports.temporal);
      },
      'the dev server to listen',
      30_000,
      100,
    );
    if (this.client) {
      // Listening is not serving yet: wait until the namespace answers.
      await eventually(
        async () =>
          !!(await this.client.workflowService.describeNamespace({ namespace: 'default' }).catch(() => undefined)),
        'the restarted dev server to serve the namespace',
        30_000,
        100,
      );
    }
    return p;
  }

  /** Starts a worker process; it polls a few seconds later (waitPolling). */
  startWorker(): Proc {
    const p = startProc('worker', TSX, ['src/worker/main.ts'], {
      cwd: ROOT,
      env: this.childEnv(),
      log: path.join(this.logs, `worker-${this.workers.length + 1}.log`),
    });
    this.worker = p;
    this.workers.push(p);
    return p;
  }

  /** Resolves once `p` logged that it polls the task queue. */
  async waitPolling(p: Proc, timeoutMs = 90_000): Promise<void> {
    await eventually(
      () => {
        if (!p.isAlive()) throw new Error(`worker ${p.pid} exited before polling:\n${tail(p.log)}`);
        return p.output().includes('"msg":"worker polling"');
      },
      `worker ${p.pid} to poll`,
      timeoutMs,
      100,
    );
  }

  async startApi(): Promise<Proc> {
    const p = startProc('api', TSX, ['src/api/server.ts'], {
      cwd: ROOT,
      env: this.childEnv({ PORT: String(this.ports.api), HOST: '127.0.0.1' }),
      log: path.join(this.logs, 'api.log'),
    });
    this.api = p;
    await eventually(
      async () => {
        if (!p.isAlive()) throw new Error(`API exited:\n${p.output()}`);
        return (await this.http('GET', '/health')).status === 200;
      },
      'the API to answer /health',
      60_000,
      100,
    );
    return p;
  }

  /** Signals a process's group and waits until the whole group is gone (a tool it started included). */
  async kill(p: Proc | undefined, signal: NodeJS.Signals, timeoutMs = 30_000): Promise<void> {
    if (!p) return;
    signalGroup(p, signal);
    await p.exited;
    await eventually(() => !groupAlive(p.pid), `${p.name} ${p.pid}'s group to be gone`, timeoutMs, 50).catch(() => {
      // Something of the group outlived a graceful signal: finish it, the trial must not leak processes.
      signalGroup(p, 'SIGKILL');
    });
  }

  /** Puts every part back (dev server up, a worker polling, the API answering) before the next trial. */
  async heal(): Promise<string[]> {
    const healed: string[] = [];
    if (!this.temporal?.isAlive()) {
      await this.startTemporal();
      healed.push('dev server');
    }
    if (!this.api?.isAlive()) {
      await this.startApi();
      healed.push('api');
    }
    if (!this.worker?.isAlive()) {
      await this.waitPolling(this.startWorker());
      healed.push('worker');
    } else await this.waitPolling(this.worker);
    return healed;
  }

  async http(
    method: string,
    urlPath: string,
    body?: unknown,
    user: User = 'alice',
    timeoutMs = 20_000,
  ): Promise<HttpAnswer> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.ports.api}${urlPath}`, {
        method,
        headers: {
          Authorization: `Bearer ${TOKENS[user]}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { status: 0, body: undefined, error: e.cause?.code ?? e.message };
    }
  }

  /** The run as the API reports it; undefined while no worker can answer its query (503) or the API is down. */
  async run(id: string): Promise<Deployment | undefined> {
    const r = await this.http('GET', `/api/v1/deployments/${id}`);
    return r.status === 200 ? (r.body as Deployment) : undefined;
  }

  /** Polls the run until it ends; undefined if it has not ended by the deadline (the run is lost). */
  async waitEnded(id: string, timeoutMs: number): Promise<Deployment | undefined> {
    return eventually(
      async () => {
        const d = await this.run(id);
        return d && TERMINAL_STATUSES.includes(d.status) ? d : undefined;
      },
      `run ${id} to end`,
      timeoutMs,
      300,
    ).catch(() => undefined);
  }

  /** Approves as bob until the run takes it (the update needs a worker; the one that was killed may be coming back). */
  async approve(id: string, timeoutMs = 120_000): Promise<HttpAnswer> {
    let last: HttpAnswer = { status: 0, body: undefined };
    await eventually(
      async () => {
        const d = await this.run(id);
        if (d && d.status !== 'awaiting_approval') return true; // decided already, or past the gate
        if (!d) return false;
        last = await this.http('POST', `/api/v1/deployments/${id}/approve`, { planHash: d.plan?.planHash }, 'bob');
        return last.status === 200;
      },
      `run ${id} to take the approval`,
      timeoutMs,
      500,
    ).catch(() => undefined);
    return last;
  }

  /** The stack lock's state from its workflow's query (needs a worker); undefined when no lock workflow runs. */
  async lockState(stack: string, environment: string): Promise<StackLockState | undefined> {
    const h = this.client.workflow.getHandle(stackLockWorkflowId(stack, environment));
    try {
      const desc = await h.describe();
      if (desc.status.name !== 'RUNNING') return undefined;
    } catch {
      return undefined;
    }
    return h.query(lockStateQuery);
  }

  /** Run ids of an environment's stack-changing runs, from visibility (what Temporal knows exists). */
  async runIds(stack: string, environment: string): Promise<string[]> {
    const ids: string[] = [];
    const query = `WorkflowType IN ('deploymentWorkflow', 'rollbackWorkflow', 'destroyWorkflow') AND StrataStack = '${stack}' AND StrataEnvironment = '${environment}'`;
    for await (const info of this.client.workflow.list({ query })) ids.push(runIdFromWorkflowId(info.workflowId));
    return ids;
  }

  /** Stops everything this world started and removes its directory (kept with CHAOS_KEEP=1, to look at). */
  async stop(): Promise<void> {
    for (const p of [this.api, this.worker, ...this.workers]) if (p?.isAlive()) signalGroup(p, 'SIGTERM');
    await Promise.race([
      Promise.all([this.api?.exited, this.worker?.exited].filter(Boolean)),
      new Promise((r) => setTimeout(r, 12_000).unref()),
    ]);
    await this.connection?.close().catch(() => undefined);
    if (this.temporal?.isAlive()) signalGroup(this.temporal, 'SIGTERM');
    await Promise.race([this.temporal?.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    killAllStarted();
    // A tool a killed worker started may run on in a group of its own (the apply it was doing): anything still
    // working in this world's directory is this suite's, and goes too.
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(this.dir)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
    if (process.env.CHAOS_KEEP !== '1') fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
