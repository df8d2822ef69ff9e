/**
 * Real Temporal for tests: the dev-server binary from the user cache on a free port (createLocal with an
 * existing path; nothing is downloaded), a Strata config over temp dirs, and a worker on a fresh task queue.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime, type Worker } from '@temporalio/worker';
import { createApp } from '../../src/api/app';
import { parseConfig, type StrataConfig } from '../../src/shared/config';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../src/shared/search-attributes';
import { createStrataWorker } from '../../src/worker/create-worker';
import { api } from './api-client';
import { poll } from './poll';
import { toolPath } from './tools';

let runtimeInstalled = false;

/** Starts a private dev server (SQLite in memory) with Strata's search attributes registered. */
export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      Runtime.install({
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
        logger: quietLogger(),
      });
    } catch {
      // Already installed by another helper in this file: keep it.
    }
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: toolPath('TEMPORAL_CLI') },
      ip: '127.0.0.1',
      searchAttributes: ALL_SEARCH_ATTRIBUTE_KEYS,
      extraArgs: ['--log-level', 'error'],
    },
  });
}

function quietLogger() {
  return new DefaultLogger('ERROR');
}

/** A Strata config over fresh temp dirs, with the repository's stacks and the quick start's environments. */
export function testConfig(overrides: Record<string, unknown> = {}): StrataConfig {
  const root = path.resolve(__dirname, '..', '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-test-'));
  const base = {
    auth: {
      tokens: [
        { token: 'alice-deployer-dev-token', subject: 'alice', roles: ['deployer', 'viewer'] },
        { token: 'bob-approver-dev-token', subject: 'bob', roles: ['approver', 'viewer'] },
        { token: 'carol-admin-dev-token', subject: 'carol', roles: ['admin'] },
        { token: 'dave-approver-dev-token', subject: 'dave', roles: ['approver', 'viewer'] },
      ],
    },
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: true },
      staging: { approvals: { required: 1, timeout: '24h' }, autoRollback: true },
      prod: { approvals: { required: 2, fourEyes: true, timeout: '72h' }, autoRollback: true },
    },
    providers: {
      aws: { region: 'us-west-1' },
      gcp: { region: 'us-central1' },
      azure: { region: 'eastus' },
      dummy: { region: 'test-region' },
    },
    stacks: {
      'hello-local': {
        executor: 'tofu',
        path: path.join(root, 'stacks/hello-local'),
        verify: [{ type: 'replan' }],
        variables: { strata_data_dir: tmp },
      },
      'sim-multicloud': {
        executor: 'simulated',
        path: path.join(root, 'stacks/sim-multicloud'),
        failoverOrder: ['aws', 'gcp', 'azure'],
        verify: [{ type: 'output', output: 'healthy', equals: true }],
      },
    },
    stateStore: { kind: 'filesystem', path: path.join(tmp, 'state') },
    workDir: path.join(tmp, 'work'),
    artifactsDir: path.join(tmp, 'artifacts'),
    temporal: { taskQueue: `strata-test-${randomUUID()}` },
    ...overrides,
  };
  return { ...parseConfig(base, root, {}), baseDir: root };
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** Starts a Strata worker for `config` on the env's server, using the bundle built once by global setup. */
export async function startWorker(
  env: TestWorkflowEnvironment,
  config: StrataConfig,
  opts: { lockHolderCheckIntervalMs?: number; lockContinueAsNewAfterGrants?: number } = {},
): Promise<RunningWorker> {
  const bundlePath = process.env.STRATA_WORKFLOW_BUNDLE;
  const worker = await createStrataWorker({
    connection: env.nativeConnection,
    client: env.client,
    config,
    workflowBundle: bundlePath ? { codePath: bundlePath } : undefined,
    lockHolderCheckIntervalMs: opts.lockHolderCheckIntervalMs ?? 1000,
    lockContinueAsNewAfterGrants: opts.lockContinueAsNewAfterGrants,
    shutdownGraceTime: '5s',
  });
  return runWorker(worker);
}

/** Runs a worker until stop() shuts it down and its run() settles. */
export function runWorker(worker: Worker): RunningWorker {
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** Polls `fn` until it returns a truthy value or the deadline passes: `poll` with positional options. */
export function eventually<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  return poll(fn, { what, timeoutMs, everyMs });
}

/** What `useStrata` gives a test file once its beforeAll has run. */
export interface StrataUnderTest {
  env: TestWorkflowEnvironment;
  worker: RunningWorker;
  /** The HTTP API (in-process, supertest) speaking as the demo users. */
  http: ReturnType<typeof api>;
}

/**
 * The usual test file's world: a private dev server, a worker for `config` and the API, started in beforeAll
 * and stopped in afterAll. Read the fields inside tests (they are set once beforeAll has run).
 */
export function useStrata(config: StrataConfig, workerOpts: Parameters<typeof startWorker>[2] = {}): StrataUnderTest {
  const s = {} as StrataUnderTest;
  beforeAll(async () => {
    s.env = await startTemporal();
    s.worker = await startWorker(s.env, config, workerOpts);
    s.http = api(createApp({ temporal: { client: s.env.client }, config }));
  });
  afterAll(async () => {
    await s.worker?.stop();
    await s.env?.teardown();
  });
  return s;
}
