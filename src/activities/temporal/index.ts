/** Activities that look at Temporal itself, for workflows that must notice other runs dying. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { EnvironmentKey, KindKey, StackKey } from '../../shared/search-attributes';
import { acquireSignal, stackLockWorkflowId } from '../../contracts/lock';

export interface TemporalActivityDeps {
  client: Client;
  taskQueue: string;
  /** How often a held stack lock checks its holder is alive (tests shorten it). */
  lockHolderCheckIntervalMs?: number;
  /** Tests force the lock workflow to continue-as-new early. */
  lockContinueAsNewAfterGrants?: number;
}

/** Factory over an injected Temporal client. */
export function createTemporalActivities({ client, taskQueue, lockHolderCheckIntervalMs, lockContinueAsNewAfterGrants }: TemporalActivityDeps) {
  return {
    /**
     * Queues the run on its stack+environment lock, creating the lock workflow if none runs (signal-with-start
     * is atomic, so two runs racing here still get one lock). The grant arrives later as a signal.
     */
    async requestStackLock(req: { stack: string; environment: string; workflowId: string; priority?: 'normal' | 'high' }): Promise<void> {
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
        signalArgs: [{ workflowId: req.workflowId, requestedAt: new Date().toISOString(), priority: req.priority }],
        staticSummary: `lock for ${req.stack}/${req.environment}`,
      });
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
  };
}

export type TemporalActivities = ReturnType<typeof createTemporalActivities>;
