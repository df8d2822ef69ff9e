/** Stack-changing runs (deploy, rollback, destroy) and their locks, as Temporal sees them. */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { approveUpdate, rejectUpdate, type ApproveInput, type RejectInput } from '../contracts/approval';
import {
  acquireSignal,
  forceUnlockSignal,
  lockGrantedSignal,
  lockStateQuery,
  releaseSignal,
  stackLockWorkflowId,
  type ForceUnlockRequest,
  type LockRequest,
  type StackLockInput,
  type StackLockState,
} from '../contracts/lock';
import { overridePolicyUpdate, type OverridePolicyInput, type PolicyOverride } from '../contracts/policy';
import {
  deploymentWorkflowId,
  runIdFromWorkflowId,
  statusQuery,
  TERMINAL_STATUSES,
  type Deployment,
  type DeploymentInput,
  type RunKind,
} from '../contracts/runs';
import { SEARCH_ATTRIBUTES } from '../shared/constants';
import { EnvironmentKey, KindKey, RequestedByKey, StackKey, StatusKey } from '../shared/search-attributes';
import type { deploymentWorkflow, destroyWorkflow, rollbackWorkflow, stackLockWorkflow } from '../workflows';
import { decide, queryIfRunning, quote, readWorkflow, startOnce, type ReadOutcome } from './workflow-reads';

const WORKFLOW_FOR = {
  deploy: 'deploymentWorkflow',
  rollback: 'rollbackWorkflow',
  destroy: 'destroyWorkflow',
} as const;
type RunWorkflow = typeof deploymentWorkflow | typeof rollbackWorkflow | typeof destroyWorkflow;

/** Filters of a run listing; values are validated by the caller. */
export interface RunFilter {
  stack?: string;
  environment?: string;
  status?: string;
  kind?: string;
}

export class RunGateway {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /** Starts the run's workflow; false when a run with this id exists already (same idempotency key). */
  start(input: DeploymentInput): Promise<boolean> {
    return startOnce(() =>
      this.client.workflow.start<RunWorkflow>(WORKFLOW_FOR[input.kind], {
        workflowId: deploymentWorkflowId(input.id),
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: runSearchAttributes(input),
        memo: { stack: input.stack, environment: input.environment, kind: input.kind, requestedBy: input.requestedBy },
        staticSummary: `${input.kind} ${input.stack} → ${input.environment} by ${input.requestedBy}${input.dryRun ? ' (dry run)' : ''}`,
        staticDetails: input.reason,
      }),
    );
  }

  /** The run as its workflow reports it, live or closed; undefined when no such run exists. */
  read(id: string): Promise<ReadOutcome<Deployment> | undefined> {
    return readWorkflow(this.client.workflow.getHandle(deploymentWorkflowId(id)), statusQuery);
  }

  /** The run's status query alone (no describe first); undefined when it cannot be asked (gone, or no worker). */
  async queryOpen(id: string): Promise<Deployment | undefined> {
    try {
      return await this.client.workflow.getHandle(deploymentWorkflowId(id)).query(statusQuery);
    } catch {
      return undefined;
    }
  }

  /**
   * The run's result once its workflow completes, waiting at most `ms` (the server long-polls the history for the
   * close event); undefined when the time ran out, or the run ended without a result or does not exist.
   */
  async waitForResult(id: string, ms: number): Promise<Deployment | undefined> {
    const handle = this.client.workflow.getHandle<RunWorkflow>(deploymentWorkflowId(id));
    try {
      return await this.client.withDeadline(Date.now() + ms, () => handle.result());
    } catch {
      return undefined;
    }
  }

  /** Run ids newest first, from visibility (SQL visibility rejects ORDER BY but already returns newest first). */
  async list(filter: RunFilter, limit: number): Promise<{ id: string; info: WorkflowExecutionInfo }[]> {
    const clauses = [`WorkflowType IN (${Object.values(WORKFLOW_FOR).map(quote).join(', ')})`];
    const eq = (k: string, v?: string) => v && clauses.push(`${k} = ${quote(v)}`);
    eq(SEARCH_ATTRIBUTES.stack, filter.stack);
    eq(SEARCH_ATTRIBUTES.environment, filter.environment);
    eq(SEARCH_ATTRIBUTES.status, filter.status);
    eq(SEARCH_ATTRIBUTES.kind, filter.kind);
    const out: { id: string; info: WorkflowExecutionInfo }[] = [];
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      out.push({ id: runIdFromWorkflowId(info.workflowId), info });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Approves; the run's document as the decision left it, where the workflow answers with it (undefined otherwise). */
  async approve(id: string, input: ApproveInput): Promise<Deployment | undefined> {
    const view = await decide(
      () => this.client.workflow.getHandle(deploymentWorkflowId(id)).executeUpdate(approveUpdate, { args: [input] }),
      `no run with id "${id}"`,
    );
    return view.run as Deployment | undefined;
  }

  /** Rejects; the run's document as for approve. */
  async reject(id: string, input: RejectInput): Promise<Deployment | undefined> {
    const view = await decide(
      () => this.client.workflow.getHandle(deploymentWorkflowId(id)).executeUpdate(rejectUpdate, { args: [input] }),
      `no run with id "${id}"`,
    );
    return view.run as Deployment | undefined;
  }

  /** An admin's override of the plan's policy denial (an Update the run's policy gate validates). */
  overridePolicy(id: string, input: OverridePolicyInput): Promise<PolicyOverride> {
    return decide(
      () =>
        this.client.workflow.getHandle(deploymentWorkflowId(id)).executeUpdate(overridePolicyUpdate, { args: [input] }),
      `no run with id "${id}"`,
    );
  }

  async cancel(id: string): Promise<void> {
    await this.client.workflow.getHandle(deploymentWorkflowId(id)).cancel();
  }

  /** Holder and queue of a stack+environment lock; undefined when no lock workflow runs (nobody holds or waits). */
  lockState(stack: string, environment: string): Promise<StackLockState | undefined> {
    return queryIfRunning(this.client.workflow.getHandle(stackLockWorkflowId(stack, environment)), lockStateQuery);
  }

  async forceUnlock(stack: string, environment: string, req: ForceUnlockRequest): Promise<void> {
    await this.client.workflow.getHandle(stackLockWorkflowId(stack, environment)).signal(forceUnlockSignal, req);
  }

  /**
   * Queues a run on its stack+environment lock, creating the lock workflow if none runs (signal-with-start is
   * atomic, so two runs racing here still get one lock). The grant arrives later as a signal. Repeating it is
   * harmless (the lock drops duplicates); with `holding` the holder re-asserts itself.
   */
  async requestLock(
    req: {
      stack: string;
      environment: string;
      workflowId: string;
      requestedAt?: string;
      holding?: boolean;
      priority?: LockRequest['priority'];
    },
    options: Pick<StackLockInput, 'holderCheckIntervalMs' | 'continueAsNewAfterGrants'> = {},
  ): Promise<void> {
    await this.client.workflow.signalWithStart<typeof stackLockWorkflow, [LockRequest]>('stackLockWorkflow', {
      workflowId: stackLockWorkflowId(req.stack, req.environment),
      taskQueue: this.taskQueue,
      args: [{ stack: req.stack, environment: req.environment, ...options }],
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
          priority: req.priority,
        },
      ],
      staticSummary: `lock for ${req.stack}/${req.environment}`,
    });
  }

  /**
   * The run's memo while it runs (static fields from its start, status and plan hash as it last published them),
   * from `describe` alone; undefined when it is not running or never existed.
   */
  async runningMemo(id: string): Promise<Record<string, unknown> | undefined> {
    try {
      const d = await this.client.workflow.getHandle(deploymentWorkflowId(id)).describe();
      return d.status.name === 'RUNNING' ? (d.memo ?? {}) : undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * A run lets go of its stack+environment lock (or leaves its queue). A lock that no longer runs has nothing to
   * release: it is not an error.
   */
  async releaseLock(stack: string, environment: string, workflowId: string): Promise<void> {
    try {
      await this.client.workflow
        .getHandle(stackLockWorkflowId(stack, environment))
        .signal(releaseSignal, { workflowId });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  /**
   * A lock tells the run it grants that it holds the lock now. False when that run no longer runs (it closed
   * before its turn came), so the lock passes on.
   */
  async grantLock(lockWorkflowId: string, workflowId: string): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(workflowId).signal(lockGrantedSignal, { lockWorkflowId });
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** True while the workflow's latest run is RUNNING; false when it completed, failed, was terminated or never existed. */
  async isRunning(workflowId: string): Promise<boolean> {
    try {
      return (await this.client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /**
   * The running runs of a stack+environment that take its lock (deploys, rollbacks, destroys; dry runs never do),
   * with the status each reports. A run that cannot be asked is listed with status `unknown`.
   */
  async inFlight(stack: string, environment: string): Promise<{ workflowId: string; status: string }[]> {
    const query = [
      `WorkflowType IN (${Object.values(WORKFLOW_FOR).map(quote).join(', ')})`,
      `ExecutionStatus = 'Running'`,
      `${SEARCH_ATTRIBUTES.stack} = ${quote(stack)}`,
      `${SEARCH_ATTRIBUTES.environment} = ${quote(environment)}`,
    ].join(' AND ');
    const ids: string[] = [];
    for await (const info of this.client.workflow.list({ query })) ids.push(info.workflowId);
    const runs = await Promise.all(
      ids.map(async (workflowId) => {
        try {
          const d = await this.client.workflow.getHandle(workflowId).query(statusQuery);
          return d.dryRun || TERMINAL_STATUSES.includes(d.status)
            ? undefined
            : { workflowId, status: d.status as string };
        } catch (err) {
          return err instanceof WorkflowNotFoundError ? undefined : { workflowId, status: 'unknown' };
        }
      }),
    );
    return runs.filter((r): r is { workflowId: string; status: string } => r !== undefined);
  }

  /** Open runs per status, for gauges. */
  async countOpen(status: string): Promise<number> {
    const { count } = await this.client.workflow.count(
      `ExecutionStatus = 'Running' AND ${SEARCH_ATTRIBUTES.status} = ${quote(status)}`,
    );
    return count;
  }
}

/** The search attributes a run starts with; the workflow keeps StrataStatus current from then on. */
function runSearchAttributes(input: DeploymentInput): TypedSearchAttributes {
  return new TypedSearchAttributes([
    { key: StackKey, value: input.stack },
    { key: EnvironmentKey, value: input.environment },
    { key: StatusKey, value: input.dryRun ? 'planning' : 'queued' },
    { key: KindKey, value: input.kind satisfies RunKind },
    { key: RequestedByKey, value: input.requestedBy },
  ]);
}
