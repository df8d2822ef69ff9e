/**
 * A whole Strata for the API fuzzer: a private Temporal dev server, a worker and the API listening on a free
 * loopback port, built the way test/helpers/temporal.ts builds them for the jest suites. The jest fuzz test
 * starts it in-process; `npx tsx test/helpers/fuzz-target.ts` runs one until SIGINT/SIGTERM and prints its URL
 * (one JSON line on stdout) for a manual `schemathesis run`.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { createApp } from '../../src/api/app';
import type { StrataConfig } from '../../src/shared/config';
import { readTools } from '../../src/shared/tools';
import { startTemporal, startWorker, testConfig, type RunningWorker } from './temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

/** A running fuzz target. */
export interface FuzzTarget {
  url: string;
  config: StrataConfig;
  env: TestWorkflowEnvironment;
  worker: RunningWorker;
  /** Workflows of the types the API starts (runs, failovers, drift scans, monitors, releases), per visibility: a count, not a scan. */
  countWorkflows(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * One simulated stack whose variables are harmless at any value (test/fixtures/sim-fuzz), and a simulated
 * failover group, so every route has something real to act on. The repository's stacks stay out: schema-valid
 * values of hello-local's output_dir write files anywhere, and sim-multicloud's instance_count has no bound.
 */
export function fuzzConfig(): StrataConfig {
  const config = testConfig({
    stacks: {
      'sim-fuzz': {
        executor: 'simulated',
        path: path.join(__dirname, '..', 'fixtures', 'sim-fuzz'),
        failoverOrder: ['aws', 'gcp'],
        verify: [{ type: 'replan' }],
      },
    },
    failoverGroups: {
      web: { provider: 'simulated', primary: { region: 'us-east-1', capacity: 3 }, secondary: { region: 'us-west-2' } },
    },
  });
  // Thousands of generated requests from one caller would mostly meet the rate limit (tested on its own).
  config.auth.rateLimitPerMinute = 0;
  // A generated `?wait=60` on a run that waits for approval would hold the request past the fuzzer's timeout.
  config.api.maxWaitSeconds = 1;
  return config;
}

/** Starts Temporal, a worker and the API on 127.0.0.1:<free port>. */
export async function startFuzzTarget(config: StrataConfig = fuzzConfig()): Promise<FuzzTarget> {
  // Outside jest nobody has exported the tool paths yet; the worker's executors read them from the environment.
  for (const [k, v] of Object.entries(readTools())) if (v && !process.env[k]) process.env[k] = v;
  const env = await startTemporal();
  const worker = await startWorker(env, config);
  const app = createApp({ temporal: { client: env.client }, config });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    env,
    worker,
    async countWorkflows() {
      const types = [
        'deploymentWorkflow',
        'rollbackWorkflow',
        'destroyWorkflow',
        'failoverWorkflow',
        'driftScanWorkflow',
        'failoverMonitorWorkflow',
        'releaseWorkflow',
      ];
      const q = `TaskQueue = '${config.temporal.taskQueue}' AND WorkflowType IN (${types.map((t) => `'${t}'`).join(', ')})`;
      return (await env.client.workflow.count(q)).count;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker.stop();
      await env.teardown();
    },
  };
}

if (require.main === module) {
  void startFuzzTarget().then((t) => {
    process.stdout.write(
      `${JSON.stringify({ url: t.url, openapi: `${t.url}/openapi.json`, taskQueue: t.config.temporal.taskQueue })}\n`,
    );
    const stop = () => void t.stop().finally(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
