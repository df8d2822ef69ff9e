/**
 * Starts and reads failovers and their monitors through the Temporal client. "Is a failover of this group
 * already running?" is answered twice: here by visibility (a quick 409 for the common case) and, atomically,
 * by the group's global lock in stage 1 (two requests racing past visibility: the second run fails with
 * FAILOVER_IN_PROGRESS). Dry runs take no lock and are always accepted.
 */
import { randomUUID } from 'node:crypto';
import type { FailoverGateway } from '../../client';
import type { FailoverGroupConfig, StrataConfig } from '../../shared/config';
import { ErrorCode, StrataError } from '../../shared/errors';
import { groupApprovalPolicy, monitorInputFor } from '../../shared/failover-input';
import {
  FAILOVER_TERMINAL_STATUSES,
  failoverGroupOf,
  failoverWorkflowId,
  newFailoverId,
  type Failover,
  type FailoverInput,
  type FailoverMode,
  type FailoverSide,
  type InjectFailure,
} from '../../contracts/failover';
import type { FailoverMonitorState } from '../../contracts/monitor';
import { configSigner, type DecisionSigner } from '../deployments/run-service';
import { rolesFor, type Principal } from '../../shared/principal';

export interface StartFailoverRequest {
  group: string;
  mode: FailoverMode;
  dryRun?: boolean;
  reason?: string;
  to?: FailoverSide;
  injectFailure?: InjectFailure;
}

export class FailoverService {
  constructor(
    private readonly failovers: FailoverGateway,
    private readonly config: StrataConfig,
    private readonly signer: DecisionSigner = configSigner(config),
  ) {}

  private group(name: string): FailoverGroupConfig {
    const g = this.config.failoverGroups[name];
    if (!g)
      throw new StrataError(
        ErrorCode.VALIDATION_FAILED,
        `unknown failover group "${name}" (known: ${Object.keys(this.config.failoverGroups).join(', ') || 'none'})`,
      );
    return g;
  }

  /** The id of a running (non dry-run) failover of `group`, per visibility. */
  async running(group: string): Promise<string | undefined> {
    return (await this.failovers.list({ group, running: true }, 1))[0];
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
      approvalPolicy: groupApprovalPolicy(g, this.config),
      to: req.to,
      injectFailure: req.injectFailure,
    };
    await this.failovers.start(input);
    return { id, status: 'running' };
  }

  /** The failover: live from the status query, or the result once closed. */
  async get(id: string): Promise<Failover> {
    const read = await this.failovers.read(id);
    if (!read) throw new StrataError(ErrorCode.NOT_FOUND, `no failover with id "${id}"`);
    if (read.kind !== 'ended') return read.value;
    const closed = read.description.status.name;
    if (!read.value)
      throw new StrataError(
        ErrorCode.NOT_FOUND,
        `failover ${id} ended (${closed.toLowerCase()}) before it recorded anything`,
      );
    // Terminated / timed out: the last state, marked as what it is.
    return {
      ...read.value,
      status: closed === 'CANCELLED' ? 'cancelled' : 'failed',
      error: read.value.error ?? { code: `WORKFLOW_${closed}`, message: `failover ${closed.toLowerCase()}` },
    };
  }

  /** Newest first, from visibility. */
  async list(filter: { group?: string; status?: string; limit: number }): Promise<Failover[]> {
    const ids = await this.failovers.list(filter, filter.limit);
    const items = await Promise.all(ids.map((id) => this.get(id).catch(() => undefined)));
    return items.filter((f): f is Failover => f !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async approve(id: string, principal: Principal, body: { comment?: string }): Promise<Failover> {
    await this.ensureOpen(id);
    const roles = rolesFor(principal);
    const assertion = this.signer(principal, {
      runId: failoverWorkflowId(failoverGroupOf(id) ?? '', id),
      decision: 'approve',
      by: principal.subject,
      roles,
    });
    await this.failovers.approve(id, { by: principal.subject, roles, comment: body.comment, assertion });
    return this.get(id);
  }

  async reject(id: string, principal: Principal, body: { reason?: string }): Promise<Failover> {
    await this.ensureOpen(id);
    const roles = rolesFor(principal);
    const assertion = this.signer(principal, {
      runId: failoverWorkflowId(failoverGroupOf(id) ?? '', id),
      decision: 'reject',
      by: principal.subject,
      roles,
    });
    await this.failovers.reject(id, { by: principal.subject, roles, reason: body.reason, assertion });
    return this.get(id);
  }

  async startMonitor(group: string): Promise<void> {
    await this.failovers.startMonitor(monitorInputFor(group, this.group(group), this.config));
  }

  async stopMonitor(group: string, principal: Principal): Promise<void> {
    this.group(group);
    await this.failovers.stopMonitor(group, principal.subject);
  }

  async monitor(group: string): Promise<{ group: string; running: boolean } & Partial<FailoverMonitorState>> {
    this.group(group);
    const state = await this.failovers.readMonitor(group);
    return state ? { ...state, group, running: true } : { group, running: false };
  }

  private async ensureOpen(id: string): Promise<void> {
    const f = await this.get(id);
    if (FAILOVER_TERMINAL_STATUSES.includes(f.status))
      throw new StrataError(ErrorCode.CONFLICT, `failover ${id} is ${f.status} and not awaiting approval`);
  }
}
