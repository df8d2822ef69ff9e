/**
 * The bare-Temporal baseline worker, its own process like Strata's: the same config file (so the same payload
 * codec), the same runtime and worker options as src/worker (createStrataWorker sets no maxConcurrent* option,
 * so both run the SDK defaults), serving bench/trivial-workflows.ts on its own task queue (BENCH_TASK_QUEUE).
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { dataConverterFor } from '../src/client';
import { loadConfig } from '../src/shared/config';
import { workerRuntimeOptions } from '../src/worker/telemetry';
import type { TrivialActivities } from './trivial-workflows';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install(workerRuntimeOptions(config));
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const activities: TrivialActivities = { benchEcho: async (n) => n };
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: process.env.BENCH_TASK_QUEUE!,
    workflowsPath: require.resolve('./trivial-workflows'),
    activities,
    dataConverter: dataConverterFor(config),
    shutdownGraceTime: '10s',
    maxHeartbeatThrottleInterval: '1s',
  });
  console.log('trivial worker polling');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
