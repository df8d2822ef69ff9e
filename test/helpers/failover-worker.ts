/**
 * A worker serving the failover workflows with explicitly injected failover activities (AWS clients per
 * group, a simulated data dir), plus helpers to start failovers and wait for them without fixed sleeps.
 */
import { createGateway } from '../../src/client';
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createFailoverActivities, type FailoverActivityDeps } from '../../src/activities/cloud/failover-activities';
import { createDecisionActivities } from '../../src/activities/auth';
import { createTemporalActivities } from '../../src/activities/temporal';
import { poll } from './poll';
import { runWorker, testConfig } from './temporal';
import { parseDuration } from '../../src/shared/duration';
import type { FailoverGroupConfig } from '../../src/shared/config';
import { FailoverGroupKey, KindKey, RequestedByKey, StatusKey } from '../../src/shared/search-attributes';
import type { failoverWorkflow } from '../../src/workflows/failover';
import {
  FAILOVER_KIND,
  failoverStatusQuery,
  failoverWorkflowId,
  newFailoverId,
  type Failover,
  type FailoverInput,
  type FailoverStatus,
} from '../../src/contracts/failover';

export interface FailoverWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/**
 * Starts a worker on `taskQueue` with the failover + Temporal activities; uses the bundle built by global setup.
 * `temporalClient` is the client of the Temporal activities (default: the env's).
 */
export async function startFailoverWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  deps: FailoverActivityDeps,
  opts: { temporalClient?: Client } = {},
): Promise<FailoverWorker> {
  const bundle = process.env.STRATA_WORKFLOW_BUNDLE;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../../src/workflows') }),
    activities: {
      ...createTemporalActivities({
        locks: createGateway(opts.temporalClient ?? env.client, { namespace: 'default', taskQueue }).runs,
      }),
      // The same signer keys as the API of testConfig(): approvals through the API are signed and verified.
      ...createDecisionActivities({ config: testConfig() }),
      ...createFailoverActivities({
        healthPollIntervalMs: 200,
        awsOptions: { pollIntervalMs: 200, promotionLinkGraceMs: 0 },
        ...deps,
      }),
    },
    shutdownGraceTime: '2s',
  });
  return runWorker(worker);
}

/** The input the API would build for `group` (approval policy from its config). */
export function failoverInput(
  group: string,
  cfg: FailoverGroupConfig,
  overrides: Partial<FailoverInput> = {},
): FailoverInput {
  return {
    id: newFailoverId(group, randomUUID()),
    group,
    mode: 'planned',
    dryRun: false,
    requestedBy: 'alice',
    trigger: 'api',
    decidedAt: new Date().toISOString(),
    approvalPolicy: {
      required: cfg.approval.required,
      roles: cfg.approval.roles,
      fourEyes: false,
      timeoutMs: parseDuration(cfg.approval.timeout),
    },
    healthTimeoutMs: 20_000,
    ...overrides,
  };
}

export async function startFailover(
  client: Client,
  taskQueue: string,
  input: FailoverInput,
): Promise<WorkflowHandle<typeof failoverWorkflow>> {
  return client.workflow.start<typeof failoverWorkflow>('failoverWorkflow', {
    workflowId: failoverWorkflowId(input.group, input.id),
    taskQueue,
    args: [input],
    typedSearchAttributes: new TypedSearchAttributes([
      { key: KindKey, value: FAILOVER_KIND },
      { key: FailoverGroupKey, value: input.group },
      { key: StatusKey, value: 'running' },
      { key: RequestedByKey, value: input.requestedBy },
    ]),
  });
}

/** Polls the status query until the failover reaches one of `statuses`. */
export async function waitForStatus(
  h: WorkflowHandle,
  statuses: FailoverStatus[],
  timeoutMs = 60_000,
): Promise<Failover> {
  let last: Failover | undefined;
  return poll(
    async () => {
      last = await h.query(failoverStatusQuery); // throws until the workflow has started: retried
      return statuses.includes(last.status) && last;
    },
    {
      what: () =>
        `failover to reach ${statuses.join('|')} (still ${last?.status}): ${JSON.stringify(last?.events.slice(-5))}`,
      timeoutMs,
    },
  );
}

/** Polls `fn` until truthy or the deadline passes; an error from `fn` fails at once. */
export function until<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  return poll(fn, { what, timeoutMs, errors: 'throw' });
}
