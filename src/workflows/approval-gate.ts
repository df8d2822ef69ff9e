/**
 * The approval gate, reusable inside every workflow that changes infrastructure. Approve/reject arrive as
 * Updates (validated, so the caller gets a reason) or as Signals (bots, the CLI; refused ones are logged).
 * Expiry is a durable timer: `condition(pred, timeout)`.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import {
  APPROVAL_ERRORS,
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  type Actor,
  type Approval,
  type ApprovalGateState,
  type ApprovalPolicy,
  type ApprovalView,
  type ApproveInput,
  type RejectInput,
  type Rejection,
} from '../contracts/approval';

export type ApprovalOutcome = 'approved' | 'rejected' | 'expired' | 'cancelled';

export interface ApprovalGateOptions {
  requestedBy: string;
  /** Called after every accepted decision, so the owner can refresh search attributes and status. */
  onChange?: () => void;
  log?: (level: 'info' | 'warn', message: string) => void;
  /** Why the plan may not be approved at all (a policy denies it), or undefined. */
  denied?: () => string | undefined;
}

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

export class ApprovalGate {
  state: ApprovalGateState = 'idle';
  approvals: Approval[] = [];
  rejection?: Rejection;
  policy?: ApprovalPolicy;
  planHash?: string;
  expiresAt?: string;

  constructor(private readonly opts: ApprovalGateOptions) {}

  /** Registers the Update and Signal handlers; call once, at the top of the workflow. */
  install(): void {
    setHandler(approveUpdate, (input) => this.approve(input, 'update'), {
      validator: (input) => this.validateApprove(input),
    });
    setHandler(rejectUpdate, (input) => this.reject(input), { validator: (input) => this.validateReject(input) });
    setHandler(approveSignal, (input) => {
      try {
        this.validateApprove(input);
        this.approve(input, 'signal');
      } catch (err) {
        this.opts.log?.('warn', `approval signal from ${input?.by ?? 'unknown'} refused: ${(err as Error).message}`);
      }
    });
    setHandler(rejectSignal, (input) => {
      try {
        this.validateReject(input);
        this.reject(input);
      } catch (err) {
        this.opts.log?.('warn', `rejection signal from ${input?.by ?? 'unknown'} refused: ${(err as Error).message}`);
      }
    });
  }

  view(): ApprovalView {
    return {
      state: this.state,
      approvals: [...this.approvals],
      approvalsRequired: this.policy?.required ?? 0,
      rejection: this.rejection,
      expiresAt: this.expiresAt,
      planHash: this.planHash,
    };
  }

  /**
   * Opens the gate for one plan and waits for the decision. With `required: 0` it approves at once.
   * `cancelled` is returned when `isCancelled` turns true while waiting.
   */
  async waitForDecision(
    policy: ApprovalPolicy,
    planHash: string | undefined,
    isCancelled: () => boolean = () => false,
  ): Promise<ApprovalOutcome> {
    this.policy = policy;
    this.planHash = planHash;
    this.approvals = [];
    this.rejection = undefined;
    if (policy.required <= 0) {
      this.state = 'approved';
      this.opts.log?.('info', 'approval not required by policy: auto-approved');
      return 'approved';
    }
    this.state = 'pending';
    this.expiresAt = new Date(Date.now() + policy.timeoutMs).toISOString();
    this.opts.onChange?.();
    const decided = await condition(() => this.state !== 'pending' || isCancelled(), policy.timeoutMs);
    if (this.state === 'pending') {
      this.state = isCancelled() ? 'cancelled' : decided ? this.state : 'expired';
      if (!decided) this.opts.log?.('warn', `approval expired after ${Math.round(policy.timeoutMs / 1000)}s`);
    }
    this.opts.onChange?.();
    return this.state as ApprovalOutcome;
  }

  private checkActor(actor: Actor): void {
    if (!actor || typeof actor.by !== 'string' || !actor.by) refuse(APPROVAL_ERRORS.forbidden, 'approver identity is missing');
    if (this.state === 'expired') refuse(APPROVAL_ERRORS.expired, 'the approval window has expired');
    if (this.state !== 'pending') refuse(APPROVAL_ERRORS.notAwaiting, `run is not awaiting approval (gate is ${this.state})`);
    const policy = this.policy!;
    const roles = Array.isArray(actor.roles) ? actor.roles : [];
    if (!roles.includes('admin') && !roles.some((r) => policy.roles.includes(r))) {
      refuse(APPROVAL_ERRORS.forbidden, `${actor.by} lacks an approver role (needs one of: ${policy.roles.join(', ')})`);
    }
    if (policy.fourEyes && actor.by === this.opts.requestedBy) {
      refuse(APPROVAL_ERRORS.forbidden, `four-eyes policy: ${actor.by} requested this run and cannot decide on it`);
    }
  }

  private validateApprove(input: ApproveInput): void {
    this.checkActor(input);
    const denial = this.opts.denied?.();
    if (denial) refuse(APPROVAL_ERRORS.policyDenied, denial);
    if (input.planHash && this.planHash && input.planHash !== this.planHash) {
      refuse(APPROVAL_ERRORS.planMismatch, `plan hash ${input.planHash} is not the plan awaiting approval (${this.planHash})`);
    }
    if (this.approvals.some((a) => a.by === input.by)) {
      refuse(APPROVAL_ERRORS.duplicate, `${input.by} has already approved this run`);
    }
  }

  private validateReject(input: RejectInput): void {
    this.checkActor(input);
  }

  private approve(input: ApproveInput, via: Approval['via']): ApprovalView {
    this.approvals.push({ by: input.by, at: new Date().toISOString(), comment: input.comment, planHash: this.planHash, via });
    this.opts.log?.('info', `approved by ${input.by} (${this.approvals.length}/${this.policy!.required})`);
    if (this.approvals.length >= this.policy!.required) this.state = 'approved';
    this.opts.onChange?.();
    return this.view();
  }

  private reject(input: RejectInput): ApprovalView {
    this.rejection = { by: input.by, at: new Date().toISOString(), reason: input.reason };
    this.state = 'rejected';
    this.opts.log?.('info', `rejected by ${input.by}${input.reason ? `: ${input.reason}` : ''}`);
    this.opts.onChange?.();
    return this.view();
  }
}

/** Converts the config's approval policy (durations as text already parsed) into the gate's input. */
export function approvalPolicy(p: { required: number; roles: string[]; fourEyes?: boolean; timeoutMs: number }): ApprovalPolicy {
  return { required: p.required, roles: p.roles, fourEyes: p.fourEyes ?? false, timeoutMs: p.timeoutMs };
}
