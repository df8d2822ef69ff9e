/**
 * Activities that look at Temporal itself, for workflows that must notice other runs dying: the stack lock's
 * requests, holder checks and recovery look-ups. The Temporal calls are the gateway's (src/client), injected by
 * the worker as the small port below, so activities never import the gateway.
 */
import {
  lockReRequestIntervalMs,
  type LockRequest,
  type LockRequestReply,
  type StackLockInput,
} from '../../contracts/lock';

/** What these activities need from the Temporal gateway (RunGateway satisfies it). */
export interface StackLockPort {
  requestLock(
    req: {
      stack: string;
      environment: string;
      workflowId: string;
      requestedAt?: string;
      holding?: boolean;
      priority?: LockRequest['priority'];
    },
    options: Pick<StackLockInput, 'holderCheckIntervalMs' | 'continueAsNewAfterGrants'>,
  ): Promise<void>;
  releaseLock(stack: string, environment: string, workflowId: string): Promise<void>;
  grantLock(lockWorkflowId: string, workflowId: string): Promise<boolean>;
  isRunning(workflowId: string): Promise<boolean>;
  inFlight(stack: string, environment: string): Promise<{ workflowId: string; status: string }[]>;
}

export interface TemporalActivityDeps {
  locks: StackLockPort;
  /** How often a held stack lock checks its holder is alive (tests shorten it). */
  lockHolderCheckIntervalMs?: number;
  /** Tests force the lock workflow to continue-as-new early. */
  lockContinueAsNewAfterGrants?: number;
}

/** Factory over the injected gateway port. */
export function createTemporalActivities({
  locks,
  lockHolderCheckIntervalMs,
  lockContinueAsNewAfterGrants,
}: TemporalActivityDeps) {
  return {
    /** Queues the run on its stack+environment lock (or, with `holding`, re-asserts the holder); `priority` orders the queue. */
    async requestStackLock(req: {
      stack: string;
      environment: string;
      workflowId: string;
      requestedAt?: string;
      holding?: boolean;
      priority?: LockRequest['priority'];
    }): Promise<LockRequestReply> {
      await locks.requestLock(req, {
        holderCheckIntervalMs: lockHolderCheckIntervalMs,
        continueAsNewAfterGrants: lockContinueAsNewAfterGrants,
      });
      return { reRequestEveryMs: lockReRequestIntervalMs(lockHolderCheckIntervalMs) };
    },

    /** The run lets go of its stack+environment lock (or leaves the queue); repeating it is harmless. */
    async releaseStackLock(req: { stack: string; environment: string; workflowId: string }): Promise<void> {
      await locks.releaseLock(req.stack, req.environment, req.workflowId);
    },

    /** The lock tells the run it grants that it holds it; false when that run no longer runs. */
    async grantStackLock(req: { lockWorkflowId: string; workflowId: string }): Promise<boolean> {
      return locks.grantLock(req.lockWorkflowId, req.workflowId);
    },

    /** True while the workflow's latest run is RUNNING; false when it completed, failed, was terminated or never existed. */
    async isWorkflowRunning(workflowId: string): Promise<boolean> {
      return locks.isRunning(workflowId);
    },

    /** The running runs of a stack+environment that take its lock, with the status each reports. */
    async stackRunsInFlight(req: {
      stack: string;
      environment: string;
    }): Promise<{ workflowId: string; status: string }[]> {
      return locks.inFlight(req.stack, req.environment);
    },
  };
}

export type TemporalActivities = ReturnType<typeof createTemporalActivities>;
