/** Wire definitions of the per stack+environment lock and run queue. */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface LockRequest {
  /** Workflow id of the run asking for the lock. */
  workflowId: string;
  requestedAt?: string;
  /** `high` waits ahead of every normal waiter (behind earlier high ones), never ahead of the holder. */
  priority?: 'normal' | 'high';
}

export interface LockHolder {
  workflowId: string;
  since: string;
}

export interface StackLockState {
  stack: string;
  environment: string;
  holder?: LockHolder;
  queue: LockRequest[];
  /** Releases the lock workflow took on its own (dead holders, force-unlocks), newest last, bounded. */
  history: { workflowId: string; releasedAt: string; reason: string }[];
}

export interface StackLockInput {
  stack: string;
  environment: string;
  /** How often a held lock checks that its holder is still running. */
  holderCheckIntervalMs?: number;
  /** Continue-as-new after this many grants even if the server has not suggested it yet (bounds history). */
  continueAsNewAfterGrants?: number;
  /** Carried across continue-as-new. */
  state?: StackLockState;
}

/** A run asks for the lock (signal-with-start creates the lock workflow when needed). */
export const acquireSignal = defineSignal<[LockRequest]>('acquire');
/** The holder (or a queued run giving up) lets go. */
export const releaseSignal = defineSignal<[{ workflowId: string }]>('release');
/** Admin force-unlock: drops the holder whatever it is doing. */
export const forceUnlockSignal = defineSignal<[{ by: string; reason?: string }]>('forceUnlock');
/** Sent by the lock to the run it grants. */
export const lockGrantedSignal = defineSignal<[{ lockWorkflowId: string }]>('lockGranted');
/** Holder and queue, for the API's `queuePosition` and `locked`/`lockHolder`. */
export const lockStateQuery = defineQuery<StackLockState>('lockState');

/** One lock workflow per stack+environment: its id is the lock. */
export function stackLockWorkflowId(stack: string, environment: string): string {
  return `strata-lock/${stack}/${environment}`;
}
