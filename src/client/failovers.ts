/** Failovers and their health monitors, as Temporal sees them. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  approveUpdate,
  rejectUpdate,
  type ApprovalView,
  type ApproveInput,
  type RejectInput,
} from '../contracts/approval';
import {
  FAILOVER_KIND,
  failoverGroupOf,
  failoverStatusQuery,
  failoverWorkflowId,
  type Failover,
  type FailoverInput,
} from '../contracts/failover';
import {
  configureMonitorSignal,
  FAILOVER_MONITOR_KIND,
  failoverMonitorWorkflowId,
  monitorConfigOf,
  monitorStatusQuery,
  stopMonitorSignal,
  type FailoverMonitorInput,
  type FailoverMonitorState,
  type MonitorConfig,
} from '../contracts/monitor';
import { SEARCH_ATTRIBUTES } from '../shared/constants';
import { ErrorCode, StrataError } from '../shared/errors';
import { FailoverGroupKey, KindKey, RequestedByKey, StatusKey } from '../shared/search-attributes';
import type { failoverMonitorWorkflow, failoverWorkflow } from '../workflows';
import { decide, queryIfRunning, quote, readWorkflow, type ReadOutcome } from './workflow-reads';

export class FailoverGateway {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  async start(input: FailoverInput): Promise<void> {
    await this.client.workflow.start<typeof failoverWorkflow>('failoverWorkflow', {
      workflowId: failoverWorkflowId(input.group, input.id),
      taskQueue: this.taskQueue,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: new TypedSearchAttributes([
        { key: KindKey, value: FAILOVER_KIND },
        { key: FailoverGroupKey, value: input.group },
        { key: StatusKey, value: 'running' },
        { key: RequestedByKey, value: input.requestedBy },
      ]),
      memo: { group: input.group, mode: input.mode, dryRun: input.dryRun, requestedBy: input.requestedBy },
      staticSummary: `${input.mode}${input.dryRun ? ' dry-run' : ''} failover of ${input.group} by ${input.requestedBy}`,
      staticDetails: input.reason,
    });
  }

  /** The failover live or closed; undefined when the id names no failover. */
  async read(id: string): Promise<ReadOutcome<Failover> | undefined> {
    const group = failoverGroupOf(id);
    if (!group) return undefined;
    return readWorkflow(this.client.workflow.getHandle(failoverWorkflowId(group, id)), failoverStatusQuery);
  }

  /** Failover ids newest first, from visibility; `running` restricts to open executions that are not dry runs. */
  async list(filter: { group?: string; status?: string; running?: boolean }, limit: number): Promise<string[]> {
    const clauses = [`${SEARCH_ATTRIBUTES.kind} = ${quote(FAILOVER_KIND)}`];
    if (filter.group) clauses.push(`${SEARCH_ATTRIBUTES.failoverGroup} = ${quote(filter.group)}`);
    if (filter.status) clauses.push(`${SEARCH_ATTRIBUTES.status} = ${quote(filter.status)}`);
    if (filter.running) clauses.push(`ExecutionStatus = 'Running'`);
    const ids: string[] = [];
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      if (filter.running && (info.memo as { dryRun?: boolean } | undefined)?.dryRun) continue;
      ids.push(info.workflowId.split('/').pop()!);
      if (ids.length >= limit) break;
    }
    return ids;
  }

  approve(id: string, input: ApproveInput): Promise<ApprovalView> {
    return decide(() => this.handle(id).executeUpdate(approveUpdate, { args: [input] }), `no failover with id "${id}"`);
  }

  reject(id: string, input: RejectInput): Promise<ApprovalView> {
    return decide(() => this.handle(id).executeUpdate(rejectUpdate, { args: [input] }), `no failover with id "${id}"`);
  }

  /**
   * Starts the group's monitor, or hands a running one today's configuration (a no-op when nothing differs):
   * signal-with-start does both atomically, so a monitor never keeps running on a configuration since changed.
   */
  async startMonitor(input: FailoverMonitorInput): Promise<void> {
    await this.client.workflow.signalWithStart<typeof failoverMonitorWorkflow, [MonitorConfig]>(
      'failoverMonitorWorkflow',
      {
        workflowId: failoverMonitorWorkflowId(input.group),
        taskQueue: this.taskQueue,
        args: [input],
        signal: configureMonitorSignal,
        signalArgs: [monitorConfigOf(input)],
        typedSearchAttributes: new TypedSearchAttributes([
          { key: KindKey, value: FAILOVER_MONITOR_KIND },
          { key: FailoverGroupKey, value: input.group },
          { key: StatusKey, value: 'probing' },
        ]),
        staticSummary: `health monitor of failover group ${input.group}`,
      },
    );
  }

  async stopMonitor(group: string, by: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(failoverMonitorWorkflowId(group)).signal(stopMonitorSignal, { by });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new StrataError(ErrorCode.NOT_FOUND, `no monitor runs for group ${group}`);
      throw err;
    }
  }

  /** The monitor's state while it runs; undefined when none runs. */
  readMonitor(group: string): Promise<FailoverMonitorState | undefined> {
    return queryIfRunning(this.client.workflow.getHandle(failoverMonitorWorkflowId(group)), monitorStatusQuery);
  }

  private handle(id: string) {
    const group = failoverGroupOf(id);
    if (!group) throw new StrataError(ErrorCode.NOT_FOUND, `no failover with id "${id}"`);
    return this.client.workflow.getHandle(failoverWorkflowId(group, id));
  }
}
