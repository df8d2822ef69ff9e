/**
 * Starts and reads releases through the gateway. A release's own state comes from its workflow; each stack's
 * live status comes from its run, so GET shows a run queued on its lock or awaiting approval as it happens.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ReleaseGateway } from '../../client';
import { releaseWorkflowId, TERMINAL_RELEASE_STATUSES, type Release, type ReleaseStack } from '../../contracts/release';
import { TERMINAL_STATUSES } from '../../contracts/runs';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode, StrataError } from '../../shared/errors';
import { hasRole, rolesFor, type Principal } from '../../shared/principal';
import type { StateStore } from '../../store/state-store';
import type { DecisionSigner, RunService } from '../deployments/run-service';
import type { z } from 'zod';
import { releaseRequestOf, resolveRelease } from './definition';
import { documentedReleaseBody, type CreateReleaseBody } from './schemas';

/** Releases for the routes: validated starts, live reads, decisions signed for the caller. */
export class ReleaseService {
  constructor(
    private readonly releases: ReleaseGateway,
    private readonly runs: RunService,
    private readonly config: StrataConfig,
    private readonly state: StateStore,
    private readonly signer: DecisionSigner = () => undefined,
  ) {}

  /** Validates and starts a release; the same idempotency key always yields the same release. */
  async start(
    body: CreateReleaseBody,
    principal: Principal,
  ): Promise<{ id: string; created: boolean; waves: string[][]; environment: string }> {
    const { name, definition } = releaseRequestOf(this.config, body);
    if (this.config.environments[definition.environment] && !hasRole(principal, 'deployer', definition.environment)) {
      throw new StrataError(
        ErrorCode.FORBIDDEN,
        `${principal.subject} may not start releases in ${definition.environment} (needs deployer there)`,
      );
    }
    const id = body.idempotencyKey
      ? `rel-${createHash('sha256').update(`release\0${definition.environment}\0${body.idempotencyKey}`).digest('hex').slice(0, 20)}`
      : `rel-${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    const input = await resolveRelease({ config: this.config, state: this.state }, definition, {
      id,
      requestedBy: principal.subject,
      name,
    });
    const created = await this.releases.start(input);
    return { id, created, waves: input.waves, environment: input.environment };
  }

  /** The request body /openapi.json shows: this configuration's environments, stacks and the release files that resolve. */
  documentedBody(): Promise<z.ZodType> {
    return documentedReleaseBody(this.config, this.state, async (name) => {
      try {
        const { definition } = releaseRequestOf(this.config, { name });
        await resolveRelease({ config: this.config, state: this.state }, definition, {
          id: 'rel-doc',
          requestedBy: 'openapi',
          name,
        });
        return true;
      } catch {
        return false;
      }
    });
  }

  /** The release, with each unfinished stack's status read live from its run. */
  async get(id: string): Promise<Release> {
    const read = await this.releases.read(id);
    if (!read) throw new StrataError(ErrorCode.NOT_FOUND, `no release with id "${id}"`);
    let r: Release;
    if (read.kind !== 'ended') r = read.value;
    else {
      const closed = read.description.status.name;
      if (!read.value)
        throw new StrataError(
          ErrorCode.NOT_FOUND,
          `release ${id} ended (${closed.toLowerCase()}) before it recorded anything`,
        );
      r = {
        ...read.value,
        status: closed === 'CANCELLED' ? 'cancelled' : 'failed',
        completedAt: read.description.closeTime?.toISOString(),
        error: read.value.error ?? { code: `WORKFLOW_${closed}`, message: `release ${closed.toLowerCase()}` },
      };
    }
    if (!TERMINAL_RELEASE_STATUSES.includes(r.status))
      r = { ...r, stacks: await Promise.all(r.stacks.map((s) => this.live(s))) };
    return r;
  }

  private async live(s: ReleaseStack): Promise<ReleaseStack> {
    const runId = s.rollback?.runId ?? s.runId ?? s.previewRunId;
    const open = s.rollback
      ? !TERMINAL_STATUSES.includes(s.rollback.status as never)
      : s.status !== 'pending' && s.status !== 'skipped' && !TERMINAL_STATUSES.includes(s.status);
    if (!runId || !open) return s;
    try {
      const d = await this.runs.get(runId);
      if (s.rollback) return { ...s, rollback: { ...s.rollback, status: d.status } };
      return { ...s, status: d.status, applyStartedAt: d.applyStartedAt ?? s.applyStartedAt };
    } catch {
      // Not visible yet (just started): the release's own view stands.
      return s;
    }
  }

  async list(filter: { environment?: string; status?: string; limit: number }): Promise<Release[]> {
    const ids = await this.releases.list(filter, filter.limit);
    const items = await Promise.all(ids.map((id) => this.get(id).catch(() => undefined)));
    return items.filter((r): r is Release => r !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /**
   * The plan the release's gate waits on, which a signed decision is bound to: the release's digest, or, while
   * one stack's changed plan is asked about again, that run's plan.
   */
  private async awaitedPlanHash(r: Release): Promise<string | undefined> {
    if (!r.reapproval) return r.planHash;
    const d = await this.runs.get(await this.stackRun(r, r.reapproval.stack));
    return d.plan?.planHash;
  }

  /** The stack's run of the release, for decisions taken per stack. */
  private async stackRun(r: Release, stack: string): Promise<string> {
    const s = r.stacks.find((x) => x.stack === stack);
    if (!s)
      throw new StrataError(
        ErrorCode.NOT_FOUND,
        `stack ${stack} is not part of release ${r.id} (its stacks: ${r.stacks.map((x) => x.stack).join(', ')})`,
      );
    const runId = s.rollback?.runId ?? s.runId;
    if (!runId)
      throw new StrataError(ErrorCode.CONFLICT, `stack ${stack} of release ${r.id} has no run yet (${s.status})`);
    return runId;
  }

  private async ensureOpen(id: string): Promise<Release> {
    const r = await this.get(id);
    if (TERMINAL_RELEASE_STATUSES.includes(r.status))
      throw new StrataError(ErrorCode.CONFLICT, `release ${id} is ${r.status} and not awaiting approval`);
    return r;
  }

  /**
   * Approves the release (its gate: one approval for every stack), or with `stack` the run of that stack, which
   * is how runs are approved in `approval: stack` releases and a release's rollback runs where they need it.
   */
  async approve(
    id: string,
    principal: Principal,
    body: { planHash?: string; comment?: string; stack?: string },
  ): Promise<Release> {
    const r = await this.ensureOpen(id);
    if (body.stack) {
      await this.runs.approve(await this.stackRun(r, body.stack), principal, body);
      return this.get(id);
    }
    const roles = rolesFor(principal, r.environment);
    const planHash = body.planHash ?? (await this.awaitedPlanHash(r));
    const assertion = this.signer(principal, {
      runId: releaseWorkflowId(id),
      decision: 'approve',
      planHash,
      by: principal.subject,
      roles,
    });
    await this.releases.approve(id, {
      by: principal.subject,
      roles,
      planHash: body.planHash,
      comment: body.comment,
      assertion,
    });
    return this.get(id);
  }

  async reject(id: string, principal: Principal, body: { reason?: string; stack?: string }): Promise<Release> {
    const r = await this.ensureOpen(id);
    if (body.stack) {
      await this.runs.reject(await this.stackRun(r, body.stack), principal, body);
      return this.get(id);
    }
    const roles = rolesFor(principal, r.environment);
    const assertion = this.signer(principal, {
      runId: releaseWorkflowId(id),
      decision: 'reject',
      planHash: await this.awaitedPlanHash(r),
      by: principal.subject,
      roles,
    });
    await this.releases.reject(id, { by: principal.subject, roles, reason: body.reason, assertion });
    return this.waitFor(id, ['rejected']);
  }

  /** An admin's override of the policy denials of the release's plans (where the environment allows it). */
  async overridePolicy(id: string, principal: Principal, body: { reason: string }): Promise<Release> {
    const r = await this.ensureOpen(id);
    const roles = rolesFor(principal, r.environment);
    const assertion = this.signer(principal, {
      runId: releaseWorkflowId(id),
      decision: 'override',
      planHash: r.planHash,
      by: principal.subject,
      roles,
    });
    await this.releases.overridePolicy(id, { by: principal.subject, roles, reason: body.reason, assertion });
    return this.get(id);
  }

  async cancel(id: string): Promise<void> {
    await this.releases.cancel(id);
  }

  /** After a decision the workflow finishes a step on its own; give it a moment so the response shows the outcome. */
  private async waitFor(id: string, statuses: string[], ms = 3000): Promise<Release> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await this.get(id);
      if (statuses.includes(r.status) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
