/** Builds a Strata worker: workflows bundled from src/workflows, activities from factories over injected deps. */
import fs from 'node:fs';
import v8 from 'node:v8';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createDecisionActivities } from '../activities/auth';
import { createIacActivities } from '../activities/iac';
import { createGateway, dataConverterFor } from '../client';
import { createNotifyActivities } from '../activities/notify/slack';
import { costEstimator, priceTableSource } from '../activities/cost';
import { createStepActivities } from '../activities/steps';
import { createPolicyActivities } from '../activities/policy';
import { createReleaseActivities } from '../activities/release';
import { createAwsClients } from '../activities/cloud/aws/clients';
import { createRolloutActivities } from '../activities/rollout';
import { createTemporalActivities } from '../activities/temporal';
import { createExecutors } from '../executors';
import type { StrataConfig } from '../shared/config';
import { readTools } from '../shared/tools';
import { createStores } from '../store';
import { createFsRunLog } from '../store/run-log';
import { buildFailoverActivities } from './failover-wiring';
import type { Tracing } from '../shared/telemetry';
import { tracingPlugin } from './telemetry';

export interface StrataWorkerOptions {
  connection: NativeConnection;
  client: Client;
  config: StrataConfig;
  taskQueue?: string;
  /** Prebuilt bundle (tests build once); otherwise src/workflows is bundled at start-up. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Tests shorten how often a held stack lock checks that its holder still runs. */
  lockHolderCheckIntervalMs?: number;
  /** Tests make the lock workflow continue-as-new after a few grants. */
  lockContinueAsNewAfterGrants?: number;
  /** How long in-flight activities get to finish on shutdown before they are cancelled. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  /** Traces workflows and activities (src/shared/telemetry.ts); a prebuilt bundle must include the interceptors. */
  tracing?: Tracing;
}

/**
 * The activities' Temporal client speaks the worker's payload codec whatever client the caller handed in: the
 * lock's look-ups query runs whose answers are encrypted, and its requests must be readable by the workflows.
 */
function withConfigCodec(client: Client, config: StrataConfig): Client {
  const dataConverter = dataConverterFor(config);
  return dataConverter
    ? new Client({ connection: client.connection, namespace: config.temporal.namespace, dataConverter })
    : client;
}

/** Every activity a Strata worker serves, wired from config. */
export function buildActivities(
  opts: Pick<
    StrataWorkerOptions,
    'client' | 'config' | 'taskQueue' | 'lockHolderCheckIntervalMs' | 'lockContinueAsNewAfterGrants'
  >,
) {
  const { config } = opts;
  const stores = createStores(config.stateStore, config.artifactsDir);
  const runLog = createFsRunLog(config.artifactsDir);
  const executors = createExecutors();
  const iac = createIacActivities({ config, executors, artifacts: stores.artifacts, state: stores.state, runLog });
  const policy = createPolicyActivities({
    config,
    artifacts: stores.artifacts,
    state: stores.state,
    runLog,
    // Asked per plan: on a fresh machine `npm start` serves before its background build has OPA.
    opaBin: () => readTools().OPA_BIN,
    // An invalid table stops the worker at start-up, naming the field; no table at all means no estimates.
    estimateCost: fs.existsSync(config.pricing.table)
      ? costEstimator(priceTableSource(config.pricing.table, config.baseDir))
      : undefined,
  });
  return {
    ...iac,
    ...policy,
    ...createStepActivities({ ...iac, ...policy }),
    ...createTemporalActivities({
      locks: createGateway(withConfigCodec(opts.client, config), {
        namespace: config.temporal.namespace,
        taskQueue: opts.taskQueue ?? config.temporal.taskQueue,
      }).runs,
      lockHolderCheckIntervalMs: opts.lockHolderCheckIntervalMs,
      lockContinueAsNewAfterGrants: opts.lockContinueAsNewAfterGrants,
    }),
    ...createNotifyActivities({ config }),
    ...createDecisionActivities({ config }),
    ...createReleaseActivities({ client: opts.client, config }),
    ...buildFailoverActivities(opts.config),
    // Progressive delivery; the simulated services live beside the failover world, one JSON file each.
    ...createRolloutActivities({
      simulated: { dataDir: process.env.STRATA_ROLLOUT_DIR ?? path.join(path.dirname(config.workDir), 'rollout') },
      // Real AWS through the default credential chain, or an emulator (moto) at AWS_ENDPOINT_URL.
      aws: () => createAwsClients({ endpoint: process.env.AWS_ENDPOINT_URL }),
    }),
  };
}

export async function createStrataWorker(opts: StrataWorkerOptions): Promise<Worker> {
  const taskQueue = opts.taskQueue ?? opts.config.temporal.taskQueue;
  // Workflows run in a worker thread the SDK creates below; its isolate takes its heap limit from the V8 flags in
  // force when it is created (this process's own heap keeps its limit). Bounded, it collects garbage before RSS
  // grows to gigabytes with many open runs.
  v8.setFlagsFromString(`--max-old-space-size=${opts.config.worker.workflowHeapMb}`);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.config.temporal.namespace,
    taskQueue,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    activities: buildActivities({ ...opts, taskQueue }),
    // Inputs, results, signals and queries leave the worker encrypted when the config names codec keys.
    dataConverter: dataConverterFor(opts.config),
    // Short activities (plans, lock requests, recording a version) finish within the grace time. An apply still
    // running after it is cancelled *by the worker* (cancellationDetails.workerShutdown): the executors tell that
    // apart from the run's own cancellation and hand the apply over (the tool runs on, the attempt fails
    // retryably, the next attempt on any worker takes it over), so a restart is quick and never ends an apply.
    shutdownGraceTime: opts.shutdownGraceTime ?? '10s',
    // Cancellation reaches an activity only in a heartbeat response; the default throttle (80% of the
    // heartbeat timeout) would let a cancelled apply run on for many seconds.
    maxHeartbeatThrottleInterval: '1s',
    // strata.yaml's `worker` section: the sticky cache bounds the memory open runs take (config.ts says how).
    maxCachedWorkflows: opts.config.worker.maxCachedWorkflows,
    maxConcurrentActivityTaskExecutions: opts.config.worker.maxConcurrentActivityTaskExecutions,
    maxConcurrentLocalActivityExecutions: opts.config.worker.maxConcurrentLocalActivityExecutions,
    maxConcurrentWorkflowTaskExecutions: opts.config.worker.maxConcurrentWorkflowTaskExecutions,
    ...(opts.tracing ? { plugins: [tracingPlugin(opts.tracing)] } : {}),
  });
}
