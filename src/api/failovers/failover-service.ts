/**
 * Starts and reads failovers and their monitors through the Temporal client. "Is a failover of this group
 * already running?" is answered twice: here by visibility (a quick 409 for the common case) and, atomically,
 * by the group's global lock in stage 1 (two requests racing past visibility: the second run fails with
 * FAILOVER_IN_PROGRESS). Dry runs take no lock and are always accepted.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { FailoverGroupConfig, StrataConfig } from '../../shared/config';
import { SEARCH_ATTRIBUTES } from '../../shared/constants';
import { parseDuration } from '../../shared/duration';
import { ErrorCode, StrataError } from '../../shared/errors';
import { FailoverGroupKey, KindKey, RequestedByKey, StatusKey } from '../../shared/search-attributes';
import { approveUpdate, rejectUpdate } from '../../contracts/approval';
import {
  FAILOVER_KIND,
  FAILOVER_TERMINAL_STATUSES,
  failoverGroupOf,
  failoverStatusQuery,
  failoverWorkflowId,
  newFailoverId,
  type Failover,
  type FailoverInput,
  type FailoverMode,
  type FailoverSide,
  type InjectFailure,
} from '../../contracts/failover';
import {
  configureMonitorSignal,
  FAILOVER_MONITOR_KIND,
  failoverMonitorWorkflowId,
  monitorConfigOf,
  monitorStatusQuery,
  stopMonitorSignal,
  type FailoverMonitorInput,
  type FailoverMonitorState,
} from '../../contracts/monitor';
import type { Principal } from '../auth';
import { badRequest, conflict, notFound } from '../http-errors';

export interface StartFailoverRequest {
  group: string;
  mode: FailoverMode;
  dryRun?: boolean;
  reason?: string;
  to?: FailoverSide;
  injectFailure?: InjectFailure;
}

const quote = (v: string) => `'${v.replace(/['\\]/g, '')}'`;

/** The approval policy of a group, as the approval gate takes it. */
export function groupApprovalPolicy(g: FailoverGroupConfig) {
  return {
    required: g.approval.required,
    roles: g.approval.roles,
    fourEyes: false,
    timeoutMs: parseDuration(g.approval.timeout),
  };
}

/** What a group's monitor runs with, resolved from strata.yaml: probe timing, and an emergency failover behind the group's approval policy. */
export function monitorInputFor(group: string, g: FailoverGroupConfig): FailoverMonitorInput {
  return {
    group,
    intervalMs: parseDuration(g.health.every),
    failuresToTrigger: g.health.failuresToTrigger,
    probeTimeoutMs: parseDuration(g.health.timeout),
    failover: { mode: 'emergency', requestedBy: 'monitor', approvalPolicy: groupApprovalPolicy(g) },
  };
}

/** Starts a monitor per group with `health.autoStart: true`; a running one gets the current configuration. */
export async function ensureFailoverMonitors(
  client: Client,
  config: StrataConfig,
  taskQueue = config.temporal.taskQueue,
): Promise<string[]> {
  const started: string[] = [];
  for (const [name, g] of Object.entries(config.failoverGroups)) {
    if (!g.health.autoStart) continue;
    await startMonitorWorkflow(client, taskQueue, name, g);
    started.push(name);
  }
  return started;
}

async function startMonitorWorkflow(
  client: Client,
  taskQueue: string,
  group: string,
  g: FailoverGroupConfig,
): Promise<void> {
  const input = monitorInputFor(group, g);
  const h = await client.workflow.start('failoverMonitorWorkflow', {
    workflowId: failoverMonitorWorkflowId(group),
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: new TypedSearchAttributes([
      { key: KindKey, value: FAILOVER_MONITOR_KIND },
      { key: FailoverGroupKey, value: group },
      { key: StatusKey, value: 'probing' },
    ]),
    staticSummary: `health monitor of failover group ${group}`,
  });
  // USE_EXISTING leaves a running monitor on the configuration it started with: hand it today's (a no-op if equal).
  await h.signal(configureMonitorSignal, monitorConfigOf(input));
}

export class FailoverService {
  constructor(
    private readonly client: Client,
    private readonly config: StrataConfig,
  ) {}

  private group(name: string): FailoverGroupConfig {
    const g = this.config.failoverGroups[name];
    if (!g)
      throw badRequest(
        `unknown failover group "${name}" (known: ${Object.keys(this.config.failoverGroups).join(', ') || 'none'})`,
      );
    return g;
  }

  /** The id of a running (non dry-run) failover of `group`, per visibility. */
  async running(group: string): Promise<string | undefined> {
    const query = `${SEARCH_ATTRIBUTES.kind} = ${quote(FAILOVER_KIND)} AND ${SEARCH_ATTRIBUTES.failoverGroup} = ${quote(group)} AND ExecutionStatus = 'Running'`;
    for await (const info of this.client.workflow.list({ query })) {
      const memo = (info.memo ?? {}) as { dryRun?: boolean };
      if (!memo.dryRun) return info.workflowId.split('/').pop();
    }
    return undefined;
  }

  async start(req: StartFailoverRequest, principal: Principal): Promise<{ id: string; status: Failover['status'] }> {
    const g = this.group(req.group);
    if (!req.dryRun) {
      const other = await this.running(req.group);
      if (other)
        throw new StrataError(
          ErrorCode.FAILOVER_IN_PROGRESS,
          `failover ${other} of group ${req.group} is in progress`,
          { id: other },
        );
    }
    const id = newFailoverId(req.group, randomUUID());
    const input: FailoverInput = {
      id,
      group: req.group,
      mode: req.mode,
      dryRun: req.dryRun ?? false,
      reason: req.reason,
      requestedBy: principal.subject,
      trigger: 'api',
      decidedAt: new Date().toISOString(),
      approvalPolicy: groupApprovalPolicy(g),
      to: req.to,
      injectFailure: req.injectFailure,
    };
    await this.client.workflow.start('failoverWorkflow', {
      workflowId: failoverWorkflowId(req.group, id),
      taskQueue: this.config.temporal.taskQueue,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: new TypedSearchAttributes([
        { key: KindKey, value: FAILOVER_KIND },
        { key: FailoverGroupKey, value: req.group },
        { key: StatusKey, value: 'running' },
        { key: RequestedByKey, value: principal.subject },
      ]),
      memo: { group: req.group, mode: req.mode, dryRun: input.dryRun, requestedBy: principal.subject },
      staticSummary: `${req.mode}${input.dryRun ? ' dry-run' : ''} failover of ${req.group} by ${principal.subject}`,
      staticDetails: req.reason,
    });
    return { id, status: 'running' };
  }

  /** The failover: live from the status query, or the result once closed. */
  async get(id: string): Promise<Failover> {
    const group = failoverGroupOf(id);
    if (!group) throw notFound(`no failover with id "${id}"`);
    const h = this.client.workflow.getHandle(failoverWorkflowId(group, id));
    try {
      const desc = await h.describe();
      if (desc.status.name === 'COMPLETED') return (await h.result()) as Failover;
      const f = await h.query(failoverStatusQuery);
      if (desc.status.name === 'RUNNING') return f;
      // Terminated / timed out: the last state, marked as what it is.
      return {
        ...f,
        status: desc.status.name === 'CANCELLED' ? 'cancelled' : 'failed',
        error: f.error ?? {
          code: `WORKFLOW_${desc.status.name}`,
          message: `failover ${desc.status.name.toLowerCase()}`,
        },
      };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`no failover with id "${id}"`);
      throw err;
    }
  }

  /** Newest first, from visibility. */
  async list(filter: { group?: string; status?: string; limit: number }): Promise<Failover[]> {
    const clauses = [`${SEARCH_ATTRIBUTES.kind} = ${quote(FAILOVER_KIND)}`];
    if (filter.group) clauses.push(`${SEARCH_ATTRIBUTES.failoverGroup} = ${quote(filter.group)}`);
    if (filter.status) clauses.push(`${SEARCH_ATTRIBUTES.status} = ${quote(filter.status)}`);
    const ids: string[] = [];
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      ids.push(info.workflowId.split('/').pop()!);
      if (ids.length >= filter.limit) break;
    }
    const items = await Promise.all(ids.map((id) => this.get(id).catch(() => undefined)));
    return items.filter((f): f is Failover => f !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async approve(id: string, principal: Principal, body: { comment?: string }): Promise<Failover> {
    await this.ensureOpen(id);
    await this.handle(id).executeUpdate(approveUpdate, {
      args: [{ by: principal.subject, roles: principal.roles, comment: body.comment }],
    });
    return this.get(id);
  }

  async reject(id: string, principal: Principal, body: { reason?: string }): Promise<Failover> {
    await this.ensureOpen(id);
    await this.handle(id).executeUpdate(rejectUpdate, {
      args: [{ by: principal.subject, roles: principal.roles, reason: body.reason }],
    });
    return this.get(id);
  }

  async startMonitor(group: string): Promise<void> {
    await startMonitorWorkflow(this.client, this.config.temporal.taskQueue, group, this.group(group));
  }

  async stopMonitor(group: string, principal: Principal): Promise<void> {
    this.group(group);
    try {
      await this.client.workflow
        .getHandle(failoverMonitorWorkflowId(group))
        .signal(stopMonitorSignal, { by: principal.subject });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`no monitor runs for group ${group}`);
      throw err;
    }
  }

  async monitor(group: string): Promise<{ group: string; running: boolean } & Partial<FailoverMonitorState>> {
    this.group(group);
    const h = this.client.workflow.getHandle(failoverMonitorWorkflowId(group));
    try {
      const desc = await h.describe();
      if (desc.status.name !== 'RUNNING') return { group, running: false };
      return { ...(await h.query(monitorStatusQuery)), group, running: true };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { group, running: false };
      throw err;
    }
  }

  private handle(id: string) {
    const group = failoverGroupOf(id);
    if (!group) throw notFound(`no failover with id "${id}"`);
    return this.client.workflow.getHandle(failoverWorkflowId(group, id));
  }

  private async ensureOpen(id: string): Promise<void> {
    const f = await this.get(id);
    if (FAILOVER_TERMINAL_STATUSES.includes(f.status))
      throw conflict(`failover ${id} is ${f.status} and not awaiting approval`);
  }
}
