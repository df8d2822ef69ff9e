/** Wire definitions of the approval gate shared by every workflow that changes infrastructure. */
import { defineSignal, defineUpdate } from '@temporalio/workflow';

/** Who is asking, as established by the API's bearer-token auth (or asserted by a bot / the CLI). */
export interface Actor {
  by: string;
  roles: string[];
}

export interface ApproveInput extends Actor {
  /** The plan hash the approver looked at; refused when it is not the plan awaiting approval. */
  planHash?: string;
  comment?: string;
}

export interface RejectInput extends Actor {
  reason?: string;
}

export interface Approval {
  by: string;
  at: string;
  comment?: string;
  planHash?: string;
  via: 'update' | 'signal';
}

export interface Rejection {
  by: string;
  at: string;
  reason?: string;
}

export interface ApprovalPolicy {
  required: number;
  roles: string[];
  fourEyes: boolean;
  timeoutMs: number;
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
  planMismatch: 'PLAN_HASH_MISMATCH',
  expired: 'APPROVAL_EXPIRED',
  duplicate: 'DUPLICATE_APPROVER',
  forbidden: 'FORBIDDEN',
} as const;
