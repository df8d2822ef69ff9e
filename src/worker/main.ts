/** The worker process: connects (waiting for the server), serves the task queue, shuts down gracefully. */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../shared/config';
import { createLogger } from '../shared/logger';
import { bundleWorkflowsOutOfProcess } from './bundle-workflows';
import { createStrataWorker } from './create-worker';
import { createGateway, dataConverterFor } from '../client';
import { ensureFailoverMonitors, reconcileDriftSchedules } from './schedules';
import { startTracing } from '../shared/telemetry';
import { workerRuntimeOptions } from './telemetry';

async function connectWithRetry<T>(
  what: string,
  connect: () => Promise<T>,
  log: ReturnType<typeof createLogger>,
): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (attempt === 1 || attempt % 10 === 0) log.warn({ err: (err as Error).message }, `waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('worker');
  // Core logs at WARN; SDK metrics for Prometheus when telemetry.workerMetricsAddress is set.
  Runtime.install(workerRuntimeOptions(config));
  const tracing = startTracing(config, 'worker');
  if (config.telemetry.workerMetricsAddress)
    log.info({ metrics: `http://${config.telemetry.workerMetricsAddress}/metrics` }, 'worker metrics for Prometheus');
  const { address, namespace, taskQueue } = config.temporal;
  const connection = await connectWithRetry(`Temporal at ${address}`, () => NativeConnection.connect({ address }), log);
  const clientConnection = await Connection.connect({ address });
  const client = new Client({ connection: clientConnection, namespace, dataConverter: dataConverterFor(config) });
  // Tracing adds its workflow interceptors to the bundle, so only then is the bundle made here, in-process.
  const workflowBundle = tracing ? undefined : { codePath: await bundleWorkflowsOutOfProcess() };
  const worker = await createStrataWorker({ connection, client, config, tracing, workflowBundle });
  // The worker has read it.
  if (workflowBundle) fs.rmSync(path.dirname(workflowBundle.codePath), { recursive: true, force: true });
  const gateway = createGateway(client, config.temporal);
  const schedules = await reconcileDriftSchedules(gateway, config);
  if (schedules.length) log.info({ schedules }, 'drift scan schedules in place');
  const monitors = await ensureFailoverMonitors(gateway, config);
  if (monitors.length) log.info({ monitors }, 'failover health monitors running');
  log.info({ address, namespace, taskQueue }, 'worker polling');
  // Runtime's default shutdown signals (SIGINT, SIGTERM...) call worker.shutdown(): in-flight activities get
  // shutdownGraceTime to finish, then are cancelled as a worker shutdown, which never interrupts an IaC tool
  // mid-apply (it is handed over to the next attempt, see create-worker.ts), and run() resolves.
  await worker.run();
  await clientConnection.close();
  await connection.close();
  await tracing?.shutdown();
  log.info('worker stopped');
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
