/**
 * The approval gate, reusable inside every workflow that changes infrastructure. Approve/reject arrive as
 * Updates (validated, so the caller gets a reason) or as Signals (bots, the CLI; refused ones are logged).
 * Expiry is a durable timer: `condition(pred, timeout)`.
 */
import {
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { DecisionActivities } from '../activities/auth';
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
  type RefusedDecision,
  type Rejection,
} from '../contracts/approval';

/** Signature checks hold the keys, so they run as an activity; they are quick and safe to retry. */
const signatures = proxyActivities<DecisionActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });
/**
 * The same check as a local activity: an HMAC over a few fields, answered inside the workflow task that runs the
 * decision, so an approval waits for no activity round trip through the server.
 */
export const localSignatures = proxyLocalActivities<DecisionActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5 },
});

/** patched() ids: wire names, never change or reuse. */
const PATCH_SIGNED_DECISIONS = 'signed-decisions';
/** Exported for the policy gate, whose overrides are verified the same way. */
export const PATCH_LOCAL_SIGNATURES = 'local-signature-check';
const PATCH_ANSWER_WITH_RUN = 'decision-answers-run';

/** A run document larger than this is not copied into the Update's answer (it lands in history); the caller queries. */
const MAX_ANSWER_JSON = 64 * 1024;

/** Refused decisions kept in the run (newest last); enough to see an attack, bounded so history stays small. */
const MAX_REFUSED = 50;

type Decision = 'approve' | 'reject';
type Transport = 'update' | 'signal';
/** Who decided, as proven: the signer's word where the policy requires signatures, the caller's claim otherwise. */
interface Proven {
  by: string;
  roles: string[];
  via: string;
}

/** How the gate closed; a cancelled run never gets here (the wait throws the cancellation instead). */
export type ApprovalOutcome = 'approved' | 'rejected' | 'expired';

export interface ApprovalGateOptions {
  requestedBy: string;
  /** Called after every accepted decision, so the owner can refresh search attributes and status. */
  onChange?: () => void;
  log?: (level: 'info' | 'warn', message: string) => void;
  /** Why the plan may not be approved at all (a policy denies it), or undefined. */
  denied?: () => string | undefined;
  /**
   * Answer approve/reject Updates with the run's document, once `settled` says the run has acted on the decision
   * (in the same workflow task: the saga moves on synchronously when the gate closes).
   */
  answer?: { document: () => unknown; settled: () => boolean };
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
    setHandler(approveUpdate, async (input) => this.answer(await this.decide('approve', input, 'update')), {
      validator: (input) => this.validateApprove(input),
    });
    setHandler(rejectUpdate, async (input) => this.answer(await this.decide('reject', input, 'update')), {
      validator: (input) => this.validateReject(input),
    });
    // Signals cannot answer the sender, so a refusal is recorded in the run instead.
    setHandler(approveSignal, async (input) => {
      try {
        this.validateApprove(input);
        await this.decide('approve', input, 'signal');
      } catch (err) {
        this.recordRefusal('approve', input, 'signal', (err as Error).message);
      }
    });
    setHandler(rejectSignal, async (input) => {
      try {
        this.validateReject(input);
        await this.decide('reject', input, 'signal');
      } catch (err) {
        this.recordRefusal('reject', input, 'signal', (err as Error).message);
      }
    });
  }

  /** Decisions refused so far (forged, unsigned, stale), with the identity they claimed. */
  refused: RefusedDecision[] = [];

  private recordRefusal(
    decision: Decision,
    input: Partial<ApproveInput> | undefined,
    transport: Transport,
    reason: string,
  ): void {
    const claimedBy = typeof input?.by === 'string' && input.by ? input.by : 'unknown';
    this.refused.push({ claimedBy, at: new Date().toISOString(), decision, reason, transport });
    if (this.refused.length > MAX_REFUSED) this.refused.splice(0, this.refused.length - MAX_REFUSED);
    this.opts.log?.('warn', `${decision} by ${claimedBy} (${transport}) refused: ${reason}`);
    this.opts.onChange?.();
  }

  /**
   * Proves the decision's identity, then applies it. Where the policy requires signatures the decision counts
   * only as the signer vouched for it (identity, roles, run, plan); the checks run again after the
   * verification, since another decision may have landed while it ran.
   */
  private async decide(
    decision: Decision,
    input: ApproveInput | RejectInput,
    transport: Transport,
  ): Promise<ApprovalView> {
    const proven = await this.prove(decision, input, transport);
    const actor = { ...input, by: proven.by, roles: proven.roles };
    if (decision === 'approve') {
      this.validateApprove(actor);
      return this.approve(actor, proven.via, transport);
    }
    this.validateReject(actor);
    return this.reject(actor, proven.via);
  }

  private async prove(decision: Decision, input: ApproveInput | RejectInput, transport: Transport): Promise<Proven> {
    if (!this.policy?.signed) return { by: input.by, roles: input.roles, via: transport };
    // Signed runs recorded before the gate verified assertions (their decisions scheduled no activity) replay as
    // they ran; every decision taken from now on is verified. Asked only where signing applies, so unsigned
    // runs' histories gain no marker.
    if (!patched(PATCH_SIGNED_DECISIONS)) return { by: input.by, roles: input.roles, via: transport };
    const verifier = patched(PATCH_LOCAL_SIGNATURES) ? localSignatures : signatures;
    const verdict = await verifier.verifyDecisionSignature({
      assertion: input.assertion,
      runId: workflowInfo().workflowId,
      decision,
      planHash: this.planHash,
    });
    if (!verdict.ok) {
      const reason = `unsigned or forged decision: ${verdict.reason}`;
      if (transport === 'update') this.recordRefusal(decision, input, transport, reason);
      refuse(APPROVAL_ERRORS.forbidden, reason);
    }
    if (verdict.by !== input.by)
      refuse(APPROVAL_ERRORS.forbidden, `decision claims ${input.by} but is signed for ${verdict.by}`);
    return verdict;
  }

  /**
   * The Update's answer: the gate, and where the owner offers it the run's document after the saga has taken the
   * decision in (status `applying` once the last approval counted), so an approval is one round trip for its caller.
   */
  private async answer(view: ApprovalView): Promise<ApprovalView> {
    const answer = this.opts.answer;
    if (!answer || !patched(PATCH_ANSWER_WITH_RUN)) return view;
    await condition(answer.settled);
    const run = answer.document();
    return JSON.stringify(run).length <= MAX_ANSWER_JSON ? { ...view, run } : view;
  }

  view(): ApprovalView {
    return {
      state: this.state,
      approvals: [...this.approvals],
      approvalsRequired: this.policy?.required ?? 0,
      rejection: this.rejection,
      expiresAt: this.expiresAt,
      planHash: this.planHash,
      refused: [...this.refused],
    };
  }

  /** Opens the gate for one plan and waits for the decision. With `required: 0` it approves at once. */
  async waitForDecision(policy: ApprovalPolicy, planHash: string | undefined): Promise<ApprovalOutcome> {
    if (this.open(policy, planHash) === 'approved') return 'approved';
    return this.decision();
  }

  /**
   * Opens the gate for one plan: from here on approvals and rejections are accepted. Returns `approved` at once
   * when the policy requires none, else `pending`.
   */
  open(policy: ApprovalPolicy, planHash: string | undefined): 'approved' | 'pending' {
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
    return 'pending';
  }

  /** Waits until the open gate is decided or its window (from `open`) runs out. */
  async decision(): Promise<ApprovalOutcome> {
    const timeoutMs = this.policy!.timeoutMs;
    const remainingMs = Date.parse(this.expiresAt!) - Date.now();
    if (this.state === 'pending' && remainingMs > 0) await condition(() => this.state !== 'pending', remainingMs);
    // Still pending means the timer won; a decision that arrived with the timer in one activation counts.
    if (this.state === 'pending') {
      this.state = 'expired';
      this.opts.log?.('warn', `approval expired after ${Math.round(timeoutMs / 1000)}s`);
    }
    this.opts.onChange?.();
    return this.state as ApprovalOutcome;
  }

  private checkActor(actor: Actor): void {
    if (!actor || typeof actor.by !== 'string' || !actor.by)
      refuse(APPROVAL_ERRORS.forbidden, 'approver identity is missing');
    if (this.state === 'expired') refuse(APPROVAL_ERRORS.expired, 'the approval window has expired');
    if (this.state !== 'pending')
      refuse(APPROVAL_ERRORS.notAwaiting, `run is not awaiting approval (gate is ${this.state})`);
    const policy = this.policy!;
    const roles = Array.isArray(actor.roles) ? actor.roles : [];
    if (!roles.includes('admin') && !roles.some((r) => policy.roles.includes(r))) {
      refuse(
        APPROVAL_ERRORS.forbidden,
        `${actor.by} lacks an approver role (needs one of: ${policy.roles.join(', ')})`,
      );
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
      refuse(
        APPROVAL_ERRORS.planMismatch,
        `plan hash ${input.planHash} is not the plan awaiting approval (${this.planHash})`,
      );
    }
    if (this.approvals.some((a) => a.by === input.by)) {
      refuse(APPROVAL_ERRORS.duplicate, `${input.by} has already approved this run`);
    }
  }

  private validateReject(input: RejectInput): void {
    this.checkActor(input);
  }

  private approve(input: ApproveInput, via: string, transport: Transport): ApprovalView {
    this.approvals.push({
      by: input.by,
      at: new Date().toISOString(),
      comment: input.comment,
      planHash: this.planHash,
      via,
      transport,
    });
    this.opts.log?.('info', `approved by ${input.by} (${this.approvals.length}/${this.policy!.required})`);
    if (this.approvals.length >= this.policy!.required) this.state = 'approved';
    this.opts.onChange?.();
    return this.view();
  }

  private reject(input: RejectInput, via: string): ApprovalView {
    this.rejection = { by: input.by, at: new Date().toISOString(), reason: input.reason, via };
    this.state = 'rejected';
    this.opts.log?.('info', `rejected by ${input.by}${input.reason ? `: ${input.reason}` : ''}`);
    this.opts.onChange?.();
    return this.view();
  }
}
