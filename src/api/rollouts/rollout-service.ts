/**
 * Starts and reads progressive rollouts and takes promote/pause/resume/abort for the caller. Every action
 * carries an assertion the API signs for the caller it authenticated (as approvals do), so the workflow
 * records a proven `by`, and a hand-written `temporal workflow update` proves nothing where signing is on.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { RolloutGateway } from '../../client';
import { rolloutWorkflowId, type Rollout, type RolloutAction, type RolloutInput } from '../../contracts/rollout';
import type { RolloutStrategy } from '../../contracts/rollout-strategy';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode, StrataError } from '../../shared/errors';
import { rolesFor, type Principal } from '../../shared/principal';
import { configSigner, type DecisionSigner } from '../deployments/run-service';

export interface StartRolloutRequest {
  service: string;
  provider: RolloutInput['provider'];
  aws?: RolloutInput['aws'];
  version: string;
  capacity?: number;
  strategy: RolloutStrategy;
  reason?: string;
  idempotencyKey?: string;
}

export class RolloutService {
  constructor(
    private readonly rollouts: RolloutGateway,
    private readonly config: Pick<StrataConfig, 'approvalSigning' | 'baseDir'>,
    private readonly signer: DecisionSigner = configSigner(config),
  ) {}

  async start(req: StartRolloutRequest, principal: Principal): Promise<{ id: string; created: boolean }> {
    const suffix = req.idempotencyKey
      ? createHash('sha256').update(`${req.service}\0${req.idempotencyKey}`).digest('hex').slice(0, 16)
      : randomUUID().slice(0, 8);
    const id = `${req.service}-${suffix}`;
    const created = await this.rollouts.start({
      id,
      service: req.service,
      provider: req.provider,
      aws: req.aws,
      version: req.version,
      capacity: req.capacity,
      strategy: req.strategy,
      requestedBy: principal.subject,
      reason: req.reason,
      signed: this.config.approvalSigning.required,
    });
    return { id, created };
  }

  async get(id: string): Promise<Rollout> {
    const read = await this.rollouts.read(id);
    if (!read) throw new StrataError(ErrorCode.NOT_FOUND, `no rollout with id "${id}"`);
    if (read.kind !== 'ended') return read.value;
    const closed = read.description.status.name;
    if (!read.value)
      throw new StrataError(
        ErrorCode.NOT_FOUND,
        `rollout ${id} ended (${closed.toLowerCase()}) before it recorded anything`,
      );
    // Failed (after reverting), terminated or timed out: the last state, marked as what it is.
    return {
      ...read.value,
      status: 'failed',
      error: read.value.error ?? { code: `WORKFLOW_${closed}`, message: `rollout ${closed.toLowerCase()}` },
    };
  }

  /** Runs the action as the caller; the rollout as it stands afterwards (abort answers once back on stable). */
  async act(id: string, action: RolloutAction, principal: Principal, body: { reason?: string }): Promise<Rollout> {
    const roles = rolesFor(principal);
    const assertion = this.signer(principal, {
      runId: rolloutWorkflowId(id),
      decision: action,
      by: principal.subject,
      roles,
    });
    try {
      await this.rollouts.act(id, action, { by: principal.subject, roles, reason: body.reason, assertion });
    } catch (err) {
      // A closed workflow takes no Updates: that is a finished rollout (409), not a missing one, when it exists.
      if (!(err instanceof StrataError) || err.code !== ErrorCode.NOT_FOUND) throw err;
      const closed = await this.get(id).catch(() => undefined);
      if (closed)
        throw new StrataError(ErrorCode.ROLLOUT_FINISHED, `rollout is ${closed.status}: nothing to ${action}`);
      throw err;
    }
    return this.get(id);
  }
}
