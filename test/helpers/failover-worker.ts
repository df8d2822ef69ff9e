/**
 * A worker serving the failover workflows with explicitly injected failover activities (AWS clients per
 * group, a simulated data dir), plus helpers to start failovers and wait for them without fixed sleeps.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createFailoverActivities, type FailoverActivityDeps } from '../../src/activities/cloud/failover-activities';
import { createTemporalActivities } from '../../src/activities/temporal';
import { runWorker } from './temporal';
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
      ...createTemporalActivities({ client: opts.temporalClient ?? env.client, taskQueue }),
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
  const deadline = Date.now() + timeoutMs;
  let last: Failover | undefined;
  for (;;) {
    try {
      last = await h.query(failoverStatusQuery);
      if (statuses.includes(last.status)) return last;
    } catch {
      // not started yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `failover still ${last?.status} after ${timeoutMs} ms (want ${statuses.join('|')}): ${JSON.stringify(last?.events.slice(-5))}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `fn` until truthy or the deadline passes. */
export async function until<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
