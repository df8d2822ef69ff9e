/** Activities that look at Temporal itself, for workflows that must notice other runs dying. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../../shared/constants';
import { EnvironmentKey, KindKey, StackKey } from '../../shared/search-attributes';
import {
  acquireSignal,
  lockReRequestIntervalMs,
  stackLockWorkflowId,
  type LockRequestReply,
} from '../../contracts/lock';
import { statusQuery, TERMINAL_STATUSES } from '../../contracts/runs';

export interface TemporalActivityDeps {
  client: Client;
  taskQueue: string;
  /** How often a held stack lock checks its holder is alive (tests shorten it). */
  lockHolderCheckIntervalMs?: number;
  /** Tests force the lock workflow to continue-as-new early. */
  lockContinueAsNewAfterGrants?: number;
}

/** The workflow types whose runs take a stack lock. */
const STACK_RUN_TYPES = ['deploymentWorkflow', 'rollbackWorkflow', 'destroyWorkflow'];

/** Factory over an injected Temporal client. */
export function createTemporalActivities({
  client,
  taskQueue,
  lockHolderCheckIntervalMs,
  lockContinueAsNewAfterGrants,
}: TemporalActivityDeps) {
  return {
    /**
     * Queues the run on its stack+environment lock, creating the lock workflow if none runs (signal-with-start
     * is atomic, so two runs racing here still get one lock). The grant arrives later as a signal. Repeating it
     * is harmless (the lock drops duplicates); with `holding` the holder re-asserts itself.
     */
    async requestStackLock(req: {
      stack: string;
      environment: string;
      workflowId: string;
      requestedAt?: string;
      holding?: boolean;
    }): Promise<LockRequestReply> {
      await client.workflow.signalWithStart('stackLockWorkflow', {
        workflowId: stackLockWorkflowId(req.stack, req.environment),
        taskQueue,
        args: [
          {
            stack: req.stack,
            environment: req.environment,
            holderCheckIntervalMs: lockHolderCheckIntervalMs,
            continueAsNewAfterGrants: lockContinueAsNewAfterGrants,
          },
        ],
        typedSearchAttributes: new TypedSearchAttributes([
          { key: StackKey, value: req.stack },
          { key: EnvironmentKey, value: req.environment },
          { key: KindKey, value: 'lock' },
        ]),
        signal: acquireSignal,
        signalArgs: [
          {
            workflowId: req.workflowId,
            requestedAt: req.requestedAt ?? new Date().toISOString(),
            holding: req.holding,
          },
        ],
        staticSummary: `lock for ${req.stack}/${req.environment}`,
      });
      return { reRequestEveryMs: lockReRequestIntervalMs(lockHolderCheckIntervalMs) };
    },

    /** True while the workflow's latest run is RUNNING; false when it completed, failed, was terminated or never existed. */
    async isWorkflowRunning(workflowId: string): Promise<boolean> {
      try {
        const d = await client.workflow.getHandle(workflowId).describe();
        return d.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },

    /**
     * The running runs of a stack+environment that take its lock (deploys, rollbacks, destroys; dry runs never
     * do), with the status each reports. A run that cannot be asked is listed with status `unknown`.
     */
    async stackRunsInFlight(req: {
      stack: string;
      environment: string;
    }): Promise<{ workflowId: string; status: string }[]> {
      const quote = (v: string) => `'${v.replace(/'/g, '')}'`;
      const query = [
        `WorkflowType IN (${STACK_RUN_TYPES.map(quote).join(', ')})`,
        `ExecutionStatus = 'Running'`,
        `${SEARCH_ATTRIBUTES.stack} = ${quote(req.stack)}`,
        `${SEARCH_ATTRIBUTES.environment} = ${quote(req.environment)}`,
      ].join(' AND ');
      const ids: string[] = [];
      for await (const info of client.workflow.list({ query })) ids.push(info.workflowId);
      const runs = await Promise.all(
        ids.map(async (workflowId) => {
          try {
            const d = await client.workflow.getHandle(workflowId).query(statusQuery);
            return d.dryRun || TERMINAL_STATUSES.includes(d.status)
              ? undefined
              : { workflowId, status: d.status as string };
          } catch (err) {
            return err instanceof WorkflowNotFoundError ? undefined : { workflowId, status: 'unknown' };
          }
        }),
      );
      return runs.filter((r): r is { workflowId: string; status: string } => r !== undefined);
    },
  };
}

export type TemporalActivities = ReturnType<typeof createTemporalActivities>;
