/**
 * Promote, pause, resume and abort of a progressive rollout: Updates with validators (the caller learns at
 * once why a call was refused), the caller's identity proven by a signed assertion where the rollout demands
 * it (the same shape and signers as approvals), and every accepted action recorded with who took it.
 */
import { ApplicationFailure, condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DecisionActivities } from '../activities/auth';
import {
  abortUpdate,
  pauseUpdate,
  promoteUpdate,
  resumeUpdate,
  ROLLOUT_ACTION_ROLES,
  ROLLOUT_ERRORS,
  ROLLOUT_TERMINAL_STATUSES,
  type Rollout,
  type RolloutAction,
  type RolloutActionInput,
  type RolloutEvent,
} from '../contracts/rollout';

/** How long an abort's caller waits for the rollout to be back on stable before it gets `rolling_back`. */
const ABORT_ANSWER_WITHIN = '10s';

const signatures = proxyActivities<DecisionActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** An abort asked for by a person (or decided by a failed analysis). */
export interface AbortRequest {
  by: string;
  via: string;
  reason: string;
}

export class RolloutControls {
  promoted = false;
  paused = false;
  abort?: AbortRequest;
  /** Called once an abort is accepted (the workflow cancels the provider call in flight). */
  onAbort?: () => void;
  /** Bumped by every resume, so a wait for "resumed" also ends when pause/resume happen in one go. */
  resumes = 0;

  constructor(
    private readonly state: Rollout,
    private readonly signed: boolean,
    private readonly record: (e: Omit<RolloutEvent, 'at'>) => void,
  ) {}

  install(): void {
    const handler = (action: RolloutAction, update: typeof promoteUpdate) =>
      setHandler(update, (input) => this.act(action, input), { validator: (input) => this.validate(action, input) });
    handler('promote', promoteUpdate);
    handler('pause', pauseUpdate);
    handler('resume', resumeUpdate);
    handler('abort', abortUpdate);
  }

  get finished(): boolean {
    return ROLLOUT_TERMINAL_STATUSES.includes(this.state.status);
  }

  private validate(action: RolloutAction, input: RolloutActionInput): void {
    if (!input || typeof input.by !== 'string' || !input.by)
      refuse(ROLLOUT_ERRORS.forbidden, 'caller identity is missing');
    const roles = Array.isArray(input.roles) ? input.roles : [];
    const allowed = ROLLOUT_ACTION_ROLES[action];
    if (!roles.includes('admin') && !roles.some((r) => allowed.includes(r))) {
      refuse(ROLLOUT_ERRORS.forbidden, `${input.by} may not ${action} a rollout (needs one of: ${allowed.join(', ')})`);
    }
    if (this.finished || this.abort) {
      refuse(
        ROLLOUT_ERRORS.finished,
        `rollout is ${this.abort && !this.finished ? 'rolling back' : this.state.status}: nothing to ${action}`,
      );
    }
    if (action === 'pause' && this.paused) refuse(ROLLOUT_ERRORS.alreadyPaused, 'rollout is already paused');
    if (action === 'resume' && !this.paused) refuse(ROLLOUT_ERRORS.notPaused, 'rollout is not paused');
  }

  private async act(action: RolloutAction, input: RolloutActionInput): Promise<Rollout> {
    const proven = await this.prove(action, input);
    // Another action may have landed while the signature was checked.
    this.validate(action, { ...input, ...proven });
    const step = this.state.currentStep;
    this.record({
      kind: action,
      by: proven.by,
      via: proven.via,
      step,
      weight: this.state.weight,
      detail: input.reason,
    });
    if (action === 'promote') {
      // Promote means "go to 100 % now": it ends a hold too, but every remaining analysis still runs.
      this.promoted = true;
      this.state.promoted = true;
      this.paused = false;
    } else if (action === 'pause') {
      this.paused = true;
    } else if (action === 'resume') {
      this.paused = false;
      this.resumes++;
    } else {
      this.abort = { by: proven.by, via: proven.via, reason: input.reason ?? `aborted by ${proven.by}` };
      this.onAbort?.();
      // The caller gets the rollout back on stable, not a promise of it — unless the provider is slow to answer:
      // then `rolling_back`, and GET shows the rest.
      await condition(() => this.finished, ABORT_ANSWER_WITHIN);
    }
    this.state.paused = this.paused;
    return this.state;
  }

  private async prove(
    action: RolloutAction,
    input: RolloutActionInput,
  ): Promise<{ by: string; roles: string[]; via: string }> {
    if (!this.signed) return { by: input.by, roles: input.roles, via: 'update' };
    const verdict = await signatures.verifyDecisionSignature({
      assertion: input.assertion,
      runId: workflowInfo().workflowId,
      decision: action,
    });
    if (!verdict.ok) refuse(ROLLOUT_ERRORS.forbidden, `unsigned or forged ${action}: ${verdict.reason}`);
    if (verdict.by !== input.by)
      refuse(ROLLOUT_ERRORS.forbidden, `${action} claims ${input.by} but is signed for ${verdict.by}`);
    return verdict;
  }
}
