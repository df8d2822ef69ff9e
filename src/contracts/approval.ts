/** Wire definitions of the approval gate shared by every workflow that changes infrastructure. */
import { defineSignal, defineUpdate } from '@temporalio/workflow';

/** Who is asking, as established by the API's bearer-token auth (or asserted by a bot / the CLI). */
export interface Actor {
  by: string;
  roles: string[];
}

/** What a signed decision decides: an approval gate's verdict, or an action on a progressive rollout. */
/** `override`: an admin lifting a plan's policy denial (src/contracts/policy.ts). */
export type DecisionKind = 'approve' | 'reject' | 'override' | 'promote' | 'pause' | 'resume' | 'abort';

/** What a signer vouches for: who decided what, on which run and plan, by which path, until when. */
export interface DecisionClaims {
  v: 1;
  /** The signer's key id: `api`, `slack`, or `bot:<id>`. */
  keyId: string;
  runId: string;
  decision: DecisionKind;
  planHash?: string;
  by: string;
  roles: string[];
  /** The path the decision came by, recorded with it (`api`, `slack`, `bot:<id>`). */
  via: string;
  expiresAt: string;
}

/** Claims plus their HMAC-SHA256 (base64url) by the signer's key. */
export interface DecisionAssertion extends DecisionClaims {
  sig: string;
}

export interface ApproveInput extends Actor {
  /** Proof of `by` and `roles` from a configured signer; required where the policy says `signed`. */
  assertion?: DecisionAssertion;
  /** The plan hash the approver looked at; refused when it is not the plan awaiting approval. */
  planHash?: string;
  comment?: string;
}

export interface RejectInput extends Actor {
  assertion?: DecisionAssertion;
  reason?: string;
}

export interface Approval {
  by: string;
  at: string;
  comment?: string;
  planHash?: string;
  /** The proven path (`api`, `slack`, `bot:<id>`); runs before signed decisions recorded `update`/`signal`. */
  via: string;
  /** How it reached the workflow. */
  transport?: 'update' | 'signal';
}

export interface Rejection {
  by: string;
  at: string;
  reason?: string;
  via?: string;
}

/** A decision the gate refused, kept in the run so forged or stale attempts are visible with who they claimed to be. */
export interface RefusedDecision {
  claimedBy: string;
  at: string;
  decision: 'approve' | 'reject';
  reason: string;
  transport: 'update' | 'signal';
}

export interface ApprovalPolicy {
  required: number;
  roles: string[];
  fourEyes: boolean;
  timeoutMs: number;
  /** Decisions must carry a valid signed assertion (on by default wherever approvals are required). */
  signed?: boolean;
}

export type ApprovalGateState = 'idle' | 'pending' | 'approved' | 'rejected' | 'expired';

/** What approve/reject Updates return: the gate as it stands after the call. */
export interface ApprovalView {
  state: ApprovalGateState;
  approvals: Approval[];
  approvalsRequired: number;
  rejection?: Rejection;
  expiresAt?: string;
  planHash?: string;
  /** Decisions the gate refused (forged, unsigned, stale), with who they claimed to be. */
  refused?: RefusedDecision[];
  /**
   * The run's own document (what its status query returns) once the decision has taken effect, for a workflow
   * that answers with it (deployments), so the caller needs no query after the Update. Absent elsewhere, from runs
   * older than the answer, and when the document is too large to copy into history.
   */
  run?: unknown;
}

/** Approve as an Update: the caller learns at once whether it counted, and why not. */
export const approveUpdate = defineUpdate<ApprovalView, [ApproveInput]>('approve');
/** Reject as an Update. */
export const rejectUpdate = defineUpdate<ApprovalView, [RejectInput]>('reject');
/** Approve as a Signal, for bots and `temporal workflow signal`; refused signals are logged, not thrown. */
export const approveSignal = defineSignal<[ApproveInput]>('approveSignal');
/** Reject as a Signal. */
export const rejectSignal = defineSignal<[RejectInput]>('rejectSignal');

/** Error types the gate's validator raises; the API maps FORBIDDEN → 403 and the rest → 409. */
export const APPROVAL_ERRORS = {
  notAwaiting: 'NOT_AWAITING_APPROVAL',
  planMismatch: 'APPROVAL_PLAN_MISMATCH',
  expired: 'APPROVAL_EXPIRED',
  duplicate: 'DUPLICATE_APPROVER',
  forbidden: 'FORBIDDEN',
  /** A policy denies the plan (src/contracts/policy.ts); an admin override lifts it where allowed. */
  policyDenied: 'POLICY_DENIED',
} as const;
