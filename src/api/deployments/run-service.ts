/**
 * Starts and reads stack-changing runs through the Temporal client. Workflow state answers "what is
 * happening", visibility (search attributes) answers "list/filter": there is no database of our own.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { RunGateway } from '../../client';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode, StrataError } from '../../shared/errors';
import { buildRunInput, type StartRunRequest } from '../../shared/run-input';
import { EnvironmentKey, KindKey, RequestedByKey, StackKey, StatusKey } from '../../shared/search-attributes';
import type { RunLog } from '../../store/run-log';
import {
  deploymentWorkflowId,
  runIdFromWorkflowId,
  TERMINAL_STATUSES,
  type Deployment,
  type DeploymentInput,
  type DeploymentStatus,
  type RunEvent,
  type RunKind,
} from '../../contracts/runs';
import type { StackLockState } from '../../contracts/lock';
import type { DecisionAssertion, DecisionClaims } from '../../contracts/approval';
import { decisionSigner, loadSignerKeys } from '../../shared/decision-signing';
import { hasRole, rolesFor, type Principal } from '../../shared/principal';

export type { StartRunRequest };

/** Signs a decision for an authenticated caller (as the API, or as the Slack handler for Slack users). */
export type DecisionSigner = (
  principal: Principal,
  claims: Omit<DecisionClaims, 'v' | 'keyId' | 'via' | 'expiresAt'>,
) => DecisionAssertion | undefined;

/** The config's own signers: the Slack handler's key for Slack users, the API's for everyone else. */
export function configSigner(config: Pick<StrataConfig, 'approvalSigning' | 'baseDir'>): DecisionSigner {
  const keys = loadSignerKeys(config);
  const asApi = decisionSigner(keys, 'api');
  const asSlack = decisionSigner(keys, 'slack');
  return (principal, claims) => (principal.via === 'slack' ? asSlack(claims) : asApi(claims));
}

export class RunService {
  constructor(
    private readonly runs: RunGateway,
    private readonly config: StrataConfig,
    private readonly runLog: RunLog,
    private readonly signer: DecisionSigner = configSigner(config),
  ) {}

  /** Validates stack/environment against strata.yaml and resolves the environment's policies into the run's input. */
  buildInput(req: StartRunRequest, principal: Principal, id: string): DeploymentInput {
    return buildRunInput(this.config, req, principal.subject, id);
  }

  /** Starts a run; the same idempotency key always yields the same run. Returns the run id and whether it is new. */
  async start(
    req: StartRunRequest,
    principal: Principal,
  ): Promise<{ id: string; created: boolean; status: DeploymentStatus }> {
    const id = req.idempotencyKey
      ? `${req.kind[0]}-${createHash('sha256').update(`${req.kind}\0${req.stack}\0${req.environment}\0${req.idempotencyKey}`).digest('hex').slice(0, 24)}`
      : `${req.kind[0]}-${randomUUID()}`;
    const input = this.buildInput(req, principal, id);
    // Route-level checks know only that the caller deploys somewhere; this is where the environment is known.
    if (!hasRole(principal, 'deployer', req.environment)) {
      throw new StrataError(
        ErrorCode.FORBIDDEN,
        `${principal.subject} may not start runs in ${req.environment} (needs deployer there)`,
      );
    }
    // Asking to jump the queue is for the configured roles; a person's rollback is high on its own (run-input.ts).
    const allowed = this.config.runQueue.highPriorityRoles;
    if (req.priority === 'high' && !allowed.some((r) => hasRole(principal, r, req.environment))) {
      throw new StrataError(
        ErrorCode.FORBIDDEN,
        `${principal.subject} may not ask for priority high (runQueue.highPriorityRoles: ${allowed.join(', ')})`,
      );
    }
    const initial: DeploymentStatus = input.dryRun ? 'planning' : 'queued';
    if (await this.runs.start(input)) return { id, created: true, status: initial };
    // The same idempotency key: the run that exists. Its status needs a worker to answer a query; under a burst
    // that can take long, and a run that exists must never be reported as a failure to start it.
    const existing = await this.get(id).catch(() => undefined);
    return { id, created: false, status: existing?.status ?? initial };
  }

  /**
   * The run's `Deployment`: live from the status query, or the result once it has closed. `waitMs`: first wait that
   * long for the run to end, on the server's long poll of its history (no query, so no worker is asked while it waits).
   */
  async get(id: string, opts: { waitMs?: number } = {}): Promise<Deployment> {
    const waitMs = Math.min(opts.waitMs ?? 0, this.config.api.maxWaitSeconds * 1000);
    if (waitMs > 0) {
      const ended = await this.runs.waitForResult(id, waitMs);
      if (ended) return ended;
    }
    const read = await this.runs.read(id);
    if (!read) throw new StrataError(ErrorCode.NOT_FOUND, `no run with id "${id}"`);
    const { description } = read;
    let d: Deployment;
    if (read.kind !== 'ended') {
      d = read.value;
    } else {
      // Terminated / timed out / failed runs have no result: rebuild what we can from the last query-able state.
      const base = read.value ?? this.fromVisibility(description);
      const closed = description.status.name;
      d = {
        ...base,
        status: (closed === 'CANCELLED' ? 'cancelled' : 'failed') satisfies DeploymentStatus,
        completedAt: description.closeTime?.toISOString(),
        error: base.error ?? { code: `WORKFLOW_${closed}`, message: `run ${closed.toLowerCase().replace('_', ' ')}` },
      };
    }
    if (d.status === 'queued') d.queuePosition = await this.queuePosition(d);
    return d;
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

  /** Holder and queue of the stack+environment lock; undefined when nobody holds or waits for it. */
  lockState(stack: string, environment: string): Promise<StackLockState | undefined> {
    return this.runs.lockState(stack, environment);
  }

  /**
   * Drops the lock's holder (admin) — only the holder named (default: the one holding it now), so an unlock that
   * races a hand-over frees nobody else. Returns the run id it held, if any.
   */
  async forceUnlock(
    stack: string,
    environment: string,
    principal: Principal,
    opts: { reason?: string; holder?: string } = {},
  ): Promise<string | undefined> {
    const lock = await this.runs.lockState(stack, environment);
    const holder = lock?.holder?.workflowId;
    if (!holder) return undefined;
    const holderRun = runIdFromWorkflowId(holder);
    if (opts.holder && opts.holder !== holder && opts.holder !== holderRun) {
      throw new StrataError(
        ErrorCode.CONFLICT,
        `the lock of ${stack}/${environment} is held by ${holderRun}, not ${opts.holder}`,
      );
    }
    await this.runs.forceUnlock(stack, environment, {
      by: principal.subject,
      via: principal.via ?? 'api',
      reason: opts.reason,
      expectedHolder: holder,
    });
    return holderRun;
  }

  private async queuePosition(d: Deployment): Promise<number | undefined> {
    const lock = await this.lockState(d.stack, d.environment);
    if (!lock) return undefined;
    const i = lock.queue.findIndex((q) => q.workflowId === deploymentWorkflowId(d.id));
    // Position 1 = next in line after the current holder.
    return i >= 0 ? i + 1 : undefined;
  }

  /** Newest first, filtered by search attributes: a visibility query, not a scan. */
  async list(filter: {
    stack?: string;
    environment?: string;
    status?: string;
    kind?: string;
    limit: number;
  }): Promise<Deployment[]> {
    const found = await this.runs.list(filter, filter.limit);
    const items = await Promise.all(found.map(({ id }) => this.get(id).catch(() => undefined)));
    return items.filter((d): d is Deployment => d !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async approve(id: string, principal: Principal, body: { planHash?: string; comment?: string }): Promise<Deployment> {
    const d = await this.decisionTarget(id);
    const roles = rolesFor(principal, d.environment);
    // The workflow trusts only what a configured signer vouches for: sign for the caller this API authenticated,
    // bound to the run and to the plan the caller approves (the one awaiting approval unless they named one).
    const planHash = body.planHash ?? d.planHash;
    const assertion = this.signer(principal, {
      runId: deploymentWorkflowId(id),
      decision: 'approve',
      planHash,
      by: principal.subject,
      roles,
    });
    const answered = await this.runs.approve(id, {
      by: principal.subject,
      roles,
      planHash: body.planHash,
      comment: body.comment,
      assertion,
    });
    return this.live(id, answered);
  }

  async reject(id: string, principal: Principal, body: { reason?: string }): Promise<Deployment> {
    const d = await this.decisionTarget(id);
    const roles = rolesFor(principal, d.environment);
    const assertion = this.signer(principal, {
      runId: deploymentWorkflowId(id),
      decision: 'reject',
      planHash: d.planHash,
      by: principal.subject,
      roles,
    });
    const answered = await this.runs.reject(id, { by: principal.subject, roles, reason: body.reason, assertion });
    return this.live(id, answered);
  }

  /** Lifts the plan's policy denial as the caller (an admin, where the environment allows it), with a reason. */
  async overridePolicy(id: string, principal: Principal, body: { reason: string }): Promise<Deployment> {
    const d = await this.ensureOpen(id);
    const roles = rolesFor(principal, d.environment);
    // Signed for the workflow, as approvals are: the policy gate verifies against its own workflow id.
    const assertion = this.signer(principal, {
      runId: deploymentWorkflowId(id),
      decision: 'override',
      planHash: d.plan?.planHash,
      by: principal.subject,
      roles,
    });
    await this.runs.overridePolicy(id, { by: principal.subject, roles, reason: body.reason, assertion });
    return this.get(id);
  }

  async cancel(id: string): Promise<void> {
    await this.runs.cancel(id);
  }

  /**
   * A decision's read of the run: the document the Update answered with while the run stays open (no further
   * round trip), else the status query alone (a decision is only ever taken on an open run), without the describe
   * a general read starts with; the full read once the run has ended, so its final result is what the caller sees.
   */
  private async live(id: string, answered?: Deployment): Promise<Deployment> {
    const open = (d?: Deployment): d is Deployment => !!d && !TERMINAL_STATUSES.includes(d.status);
    if (open(answered)) return answered;
    const d = answered ? undefined : await this.runs.queryOpen(id);
    return open(d) ? d : this.get(id);
  }

  /**
   * Where a decision's run runs and the plan it awaits, for signing the decision: from the run's memo (one
   * `describe`, no worker involved) when the run publishes its status there, else from its status query. A memo
   * a moment behind the run costs nothing: the workflow checks the signed plan hash and refuses a stale one.
   */
  private async decisionTarget(id: string): Promise<{ environment: string; planHash?: string }> {
    const memo = await this.runs.runningMemo(id);
    const status = memo?.status as DeploymentStatus | undefined;
    const planHash = typeof memo?.planHash === 'string' ? memo.planHash : undefined;
    // A memo published before it carried the plan hash (a run older than this API) has a plan but no hash.
    const complete = planHash !== undefined || memo?.plan === undefined;
    if (memo && status && !TERMINAL_STATUSES.includes(status) && typeof memo.environment === 'string' && complete)
      return { environment: memo.environment, planHash };
    const d = await this.ensureOpen(id);
    return { environment: d.environment, planHash: d.plan?.planHash };
  }

  private async ensureOpen(id: string): Promise<Deployment> {
    const d = await this.live(id);
    if (TERMINAL_STATUSES.includes(d.status)) {
      // A closed workflow cannot take updates at all; say why in the gate's words.
      throw new StrataError(ErrorCode.CONFLICT, `run ${id} is ${d.status} and not awaiting approval`);
    }
    return d;
  }

  /** Workflow events and tool output merged in time order, from `from` on (tool-log line offset). */
  async logs(
    id: string,
    fromEvents = 0,
    fromLog = 0,
  ): Promise<{ items: RunEvent[]; nextEvents: number; nextLog: number; done: boolean }> {
    const d = await this.get(id);
    const events = d.events.slice(fromEvents);
    const log = this.runLog.read(id, fromLog);
    const items = [...events, ...log.items].sort((a, b) => a.ts.localeCompare(b.ts));
    return {
      items,
      nextEvents: fromEvents + events.length,
      nextLog: log.next,
      done: TERMINAL_STATUSES.includes(d.status),
    };
  }
}
