/**
 * Starts and reads stack-changing runs through the Temporal client. Workflow state answers "what is
 * happening", visibility (search attributes) answers "list/filter": there is no database of our own.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { StrataConfig } from '../../shared/config';
import { buildRunInput, type StartRunRequest } from '../../shared/run-input';
import { EnvironmentKey, KindKey, RequestedByKey, StackKey, StatusKey } from '../../shared/search-attributes';
import { SEARCH_ATTRIBUTES } from '../../shared/constants';
import type { RunLog } from '../../store/run-log';
import { approveUpdate, rejectUpdate } from '../../contracts/approval';
import {
  deploymentWorkflowId,
  runIdFromWorkflowId,
  statusQuery,
  TERMINAL_STATUSES,
  type Deployment,
  type DeploymentInput,
  type DeploymentStatus,
  type RunEvent,
  type RunKind,
} from '../../contracts/runs';
import { lockStateQuery, stackLockWorkflowId, type StackLockState } from '../../contracts/lock';
import type { Principal } from '../auth';
import { conflict, notFound } from '../http-errors';

const WORKFLOW_FOR: Record<RunKind, string> = {
  deploy: 'deploymentWorkflow',
  rollback: 'rollbackWorkflow',
  destroy: 'destroyWorkflow',
};

export type { StartRunRequest };

export class RunService {
  constructor(
    private readonly client: Client,
    private readonly config: StrataConfig,
    private readonly runLog: RunLog,
  ) {}

  private get taskQueue() {
    return this.config.temporal.taskQueue;
  }

  /** Validates stack/environment against strata.yaml and resolves the environment's policies into the run's input. */
  buildInput(req: StartRunRequest, principal: Principal, id: string): DeploymentInput {
    return buildRunInput(this.config, req, principal.subject, id);
  }

  /** Starts a run; the same idempotency key always yields the same run. Returns the run id and whether it is new. */
  async start(req: StartRunRequest, principal: Principal): Promise<{ id: string; created: boolean }> {
    const id = req.idempotencyKey
      ? `${req.kind[0]}-${createHash('sha256').update(`${req.kind}\0${req.stack}\0${req.environment}\0${req.idempotencyKey}`).digest('hex').slice(0, 24)}`
      : `${req.kind[0]}-${randomUUID()}`;
    const input = this.buildInput(req, principal, id);
    try {
      await this.client.workflow.start(WORKFLOW_FOR[req.kind], {
        workflowId: deploymentWorkflowId(id),
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: new TypedSearchAttributes([
          { key: StackKey, value: req.stack },
          { key: EnvironmentKey, value: req.environment },
          { key: StatusKey, value: input.dryRun ? 'planning' : 'queued' },
          { key: KindKey, value: req.kind },
          { key: RequestedByKey, value: principal.subject },
        ]),
        memo: { stack: req.stack, environment: req.environment, kind: req.kind, requestedBy: principal.subject },
        staticSummary: `${req.kind} ${req.stack} → ${req.environment} by ${principal.subject}${input.dryRun ? ' (dry run)' : ''}`,
        staticDetails: req.reason,
      });
      return { id, created: true };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { id, created: false };
      throw err;
    }
  }

  /** The run's `Deployment`: live from the status query, or the result once it has closed. */
  async get(id: string): Promise<Deployment> {
    const handle = this.client.workflow.getHandle(deploymentWorkflowId(id));
    let d: Deployment;
    try {
      const desc = await handle.describe();
      if (desc.status.name === 'COMPLETED') {
        d = (await handle.result()) as Deployment;
      } else if (desc.status.name === 'RUNNING') {
        d = await handle.query(statusQuery);
      } else {
        d = await this.closedWithoutResult(desc, handle);
      }
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`no run with id "${id}"`);
      throw err;
    }
    if (d.status === 'queued') d.queuePosition = await this.queuePosition(d);
    return d;
  }

  /** Terminated / timed out / failed runs have no result: rebuild what we can from the last query-able state. */
  private async closedWithoutResult(desc: WorkflowExecutionDescription, handle: ReturnType<Client['workflow']['getHandle']>): Promise<Deployment> {
    let d: Deployment | undefined;
    try {
      d = await handle.query(statusQuery);
    } catch {
      d = undefined;
    }
    const status: DeploymentStatus = desc.status.name === 'CANCELLED' ? 'cancelled' : 'failed';
    const base = d ?? this.fromVisibility(desc);
    return {
      ...base,
      status,
      completedAt: desc.closeTime?.toISOString(),
      error: base.error ?? { code: `WORKFLOW_${desc.status.name}`, message: `run ${desc.status.name.toLowerCase().replace('_', ' ')}` },
    };
  }

  private fromVisibility(info: Omit<WorkflowExecutionInfo, 'raw'>): Deployment {
    const sa = info.typedSearchAttributes;
    const memo = (info.memo ?? {}) as Record<string, string>;
    return {
      id: runIdFromWorkflowId(info.workflowId),
      kind: (sa.get(KindKey) ?? memo.kind ?? 'deploy') as RunKind,
      stack: sa.get(StackKey) ?? memo.stack ?? '',
      environment: sa.get(EnvironmentKey) ?? memo.environment ?? '',
      status: (sa.get(StatusKey) ?? 'queued') as DeploymentStatus,
      requestedBy: sa.get(RequestedByKey) ?? memo.requestedBy ?? '',
      dryRun: false,
      createdAt: info.startTime.toISOString(),
      updatedAt: (info.closeTime ?? info.executionTime ?? info.startTime).toISOString(),
      approvals: [],
      approvalsRequired: 0,
      resources: [],
      outputs: {},
      events: [],
    };
  }

  async lockState(stack: string, environment: string): Promise<StackLockState | undefined> {
    try {
      const h = this.client.workflow.getHandle(stackLockWorkflowId(stack, environment));
      const desc = await h.describe();
      if (desc.status.name !== 'RUNNING') return undefined;
      return await h.query(lockStateQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  private async queuePosition(d: Deployment): Promise<number | undefined> {
    const lock = await this.lockState(d.stack, d.environment);
    if (!lock) return undefined;
    const i = lock.queue.findIndex((q) => q.workflowId === deploymentWorkflowId(d.id));
    // Position 1 = next in line after the current holder.
    return i >= 0 ? i + 1 : undefined;
  }

  /** Newest first, filtered by search attributes: a visibility query, not a scan. */
  async list(filter: { stack?: string; environment?: string; status?: string; kind?: string; limit: number }): Promise<Deployment[]> {
    const clauses = [`WorkflowType IN ('deploymentWorkflow', 'rollbackWorkflow', 'destroyWorkflow')`];
    const eq = (k: string, v?: string) => v && clauses.push(`${k} = '${v.replace(/'/g, '')}'`);
    eq(SEARCH_ATTRIBUTES.stack, filter.stack);
    eq(SEARCH_ATTRIBUTES.environment, filter.environment);
    eq(SEARCH_ATTRIBUTES.status, filter.status);
    eq(SEARCH_ATTRIBUTES.kind, filter.kind);
    const ids: string[] = [];
    // SQL visibility (the dev server, PostgreSQL clusters) rejects ORDER BY but already returns newest first.
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      ids.push(runIdFromWorkflowId(info.workflowId));
      if (ids.length >= filter.limit) break;
    }
    const items = await Promise.all(ids.map((id) => this.get(id).catch(() => undefined)));
    return items.filter((d): d is Deployment => d !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async approve(id: string, principal: Principal, body: { planHash?: string; comment?: string }): Promise<Deployment> {
    const h = this.client.workflow.getHandle(deploymentWorkflowId(id));
    await this.ensureExists(id);
    await h.executeUpdate(approveUpdate, { args: [{ by: principal.subject, roles: principal.roles, planHash: body.planHash, comment: body.comment }] });
    return this.get(id);
  }

  async reject(id: string, principal: Principal, body: { reason?: string }): Promise<Deployment> {
    const h = this.client.workflow.getHandle(deploymentWorkflowId(id));
    await this.ensureExists(id);
    await h.executeUpdate(rejectUpdate, { args: [{ by: principal.subject, roles: principal.roles, reason: body.reason }] });
    return this.get(id);
  }

  async cancel(id: string): Promise<void> {
    await this.client.workflow.getHandle(deploymentWorkflowId(id)).cancel();
  }

  private async ensureExists(id: string): Promise<void> {
    const d = await this.get(id);
    if (TERMINAL_STATUSES.includes(d.status)) {
      // A closed workflow cannot take updates at all; say why in the gate's words.
      throw conflict(`run ${id} is ${d.status} and not awaiting approval`);
    }
  }

  /** Workflow events and tool output merged in time order, from `from` on (tool-log line offset). */
  async logs(id: string, fromEvents = 0, fromLog = 0): Promise<{ items: RunEvent[]; nextEvents: number; nextLog: number; done: boolean }> {
    const d = await this.get(id);
    const events = d.events.slice(fromEvents);
    const log = this.runLog.read(id, fromLog);
    const items = [...events, ...log.items].sort((a, b) => a.ts.localeCompare(b.ts));
    return { items, nextEvents: fromEvents + events.length, nextLog: log.next, done: TERMINAL_STATUSES.includes(d.status) };
  }
}
