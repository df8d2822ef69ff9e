/** Wire definitions of the per stack+environment lock and run queue. */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface LockRequest {
  /** Workflow id of the run asking for the lock. */
  workflowId: string;
  /** When the run first asked (its re-requests repeat it), so the queue keeps the runs' order. */
  requestedAt?: string;
  /** `high` waits ahead of every normal waiter (behind earlier high ones), never ahead of the holder. */
  priority?: 'normal' | 'high';
  /** Sent by the current holder to re-assert itself, e.g. to a lock workflow that started afresh. */
  holding?: boolean;
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
  /** Force-unlocks refused because they named another holder than the current one, newest last, bounded. */
  refusedUnlocks?: { by: string; expectedHolder?: string; holder?: string; at: string }[];
  /**
   * Set while a lock workflow that started without carried state (its predecessor vanished, or went idle) waits
   * for every running run of the stack to say whether it holds the lock; nobody is granted meanwhile.
   */
  recovery?: {
    since: string;
    /** Runs that have announced themselves to this lock (request, re-assertion, release). */
    announced: string[];
    /** Running runs not heard from yet, as of the last look. */
    waitingFor: string[];
  };
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
/** An admin's force-unlock, naming the holder it means to drop. */
export interface ForceUnlockRequest {
  by: string;
  /** The path the admin came by (api, web-ui, jwt ...), recorded with the unlock. */
  via?: string;
  reason?: string;
  /** Workflow id or run id of the holder the admin saw; a lock held by anyone else stays held. */
  expectedHolder: string;
}

/** Admin force-unlock: drops the holder whatever it is doing, if it is still the holder the admin named. */
export const forceUnlockSignal = defineSignal<[ForceUnlockRequest]>('forceUnlock');
/** Sent by the lock to the run it grants. */
export const lockGrantedSignal = defineSignal<[{ lockWorkflowId: string }]>('lockGranted');
/** Sent by a lock workflow that started without carried state to each running run of its stack: announce yourself now. */
export const lockRecoveringSignal = defineSignal<[{ lockWorkflowId: string }]>('lockRecovering');
/** Holder and queue, for the API's `queuePosition` and `locked`/`lockHolder`. */
export const lockStateQuery = defineQuery<StackLockState>('lockState');

/** How often a held lock checks that its holder still runs, unless the worker is told otherwise. */
export const DEFAULT_LOCK_HOLDER_CHECK_MS = 15_000;

/**
 * How often a run repeats its lock request while it waits, and re-asserts itself while it holds. It is the
 * fallback for a lock workflow that vanished with nobody new asking (the next repeat re-creates it); a lock that
 * starts afresh asks the runs at once (`lockRecoveringSignal`). Every repeat is a timer and an activity in the
 * run's history, so it is rare: a run may wait for days behind an approval.
 */
export function lockReRequestIntervalMs(holderCheckIntervalMs = DEFAULT_LOCK_HOLDER_CHECK_MS): number {
  return Math.max(1000, 20 * holderCheckIntervalMs);
}

/** What a lock request tells the run. */
export interface LockRequestReply {
  /** Repeat the request (or the holder's re-assertion) this often. */
  reRequestEveryMs: number;
}

/** One lock workflow per stack+environment: its id is the lock. */
export function stackLockWorkflowId(stack: string, environment: string): string {
  return `strata-lock/${stack}/${environment}`;
}
