/**
 * Bookkeeping every saga shares: the run document the status query returns, its bounded event list, and the
 * status published to Temporal (search attribute for filtering, memo and current details for reading at a
 * glance in the Web UI). Generic over the document so the stack-change and failover sagas keep one copy.
 * Deterministic (workflow clock only), no I/O.
 */
import {
  CancellationScope,
  condition,
  patched,
  setCurrentDetails,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { StatusKey } from '../shared/search-attributes';
import type { Approval, RefusedDecision, Rejection } from '../contracts/approval';
import { ApprovalGate, type ApprovalGateOptions } from './approval-gate';

/** Appends `item` and drops the oldest entries beyond `max`, so a long run's history-bound state stays small. */
export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

export type EventLevel = 'info' | 'warn' | 'error';

/** The part of a run document the recorder maintains. */
export interface RecordedRun<S extends string> {
  status: S;
  updatedAt: string;
  events: { ts: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string }[];
}

/** How a status is made visible outside the workflow. */
export interface StatusPublication<D> {
  /** Memo shown in the Web UI; upserting it is a command, so it sits behind this patch id for older runs. */
  memo?: { patchId: string; of: (doc: D) => Record<string, unknown> };
  /** One markdown line for the Web UI's current details (not a command). */
  details?: (doc: D) => string;
}

/** Owns status and events of one run document; every status change goes through `setStatus`. */
export class RunRecorder<S extends string, D extends RecordedRun<S>> {
  private memoPatched?: boolean;
  /** Set once revisions are tracked: the document's revision and its JSON when that revision was published. */
  private revision?: number;
  private publishedJson = '';
  private closed = false;

  constructor(
    readonly doc: D,
    private readonly publication: StatusPublication<D> = {},
    private readonly maxEvents = 200,
  ) {}

  now(): string {
    return new Date().toISOString();
  }

  event(level: EventLevel, message: string): void {
    pushBounded(this.doc.events, { ts: this.now(), level, message }, this.maxEvents);
    this.doc.updatedAt = this.now();
  }

  setStatus(status: S, message?: string): void {
    this.doc.status = status;
    this.doc.updatedAt = this.now();
    this.event(status === 'failed' ? 'error' : 'info', message ?? `status → ${status}`);
    this.publish();
  }

  /** Publishes the current status: search attribute, memo (patched), current details. */
  publish(): void {
    upsertSearchAttributes([{ key: StatusKey, value: this.doc.status }]);
    const memo = this.publication.memo;
    // With revisions tracked the memo goes out once the workflow task's changes are all made (flush).
    // Asked once per run: runs recorded before the memo existed keep replaying without it.
    if (memo && this.revision === undefined && (this.memoPatched ??= patched(memo.patchId)))
      upsertMemo(memo.of(this.doc));
    if (this.publication.details) setCurrentDetails(this.publication.details(this.doc));
  }

  /**
   * From now on the memo carries the document's revision, raised in every workflow task that changed the document
   * (whatever changed it: a status, an event, a handler). The memo is written in the same task completion as the
   * change, so `describe` (which no worker answers) tells a reader whether the document it holds is still current.
   *
   * The check runs as a condition that never holds: the SDK evaluates blocked conditions after each activation's
   * jobs and microtasks, until nothing more unblocks, so its last evaluation sees the activation's final document.
   * It is outside cancellation (a cancelled run still publishes its way out) and stops at `close`.
   */
  trackRevisions(): void {
    if (this.revision !== undefined) return;
    this.revision = 0;
    void CancellationScope.nonCancellable(() =>
      condition(() => {
        this.flush();
        return false;
      }),
    );
  }

  /** Publishes a new revision if the document changed since the last one (a no-op without revisions). */
  flush(): void {
    if (this.revision === undefined || this.closed) return;
    const json = JSON.stringify(this.doc);
    if (json === this.publishedJson) return;
    this.publishedJson = json;
    this.revision++;
    upsertMemo({ ...this.publication.memo?.of(this.doc), revision: this.revision });
  }

  /** The last publication, before the workflow's final command (nothing may follow that). */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /**
   * The document as a query answers it, published first: a handler answering with it mid-task (a decision
   * Update) hands out the revision the memo carries, so a reader's cache recognises it.
   */
  publishedView(): D & { revision?: number } {
    this.flush();
    return this.view();
  }

  /** The document as a query answers it: with its revision, when that revision describes it exactly. */
  view(): D & { revision?: number } {
    if (this.revision === undefined || JSON.stringify(this.doc) !== this.publishedJson) return this.doc;
    return { ...this.doc, revision: this.revision };
  }
}

/** The approval fields a run document mirrors from its gate. */
export interface ApprovalFields {
  approvals: Approval[];
  rejection?: Rejection;
  refusedDecisions?: RefusedDecision[];
  approvalExpiresAt?: string;
  updatedAt: string;
}

/**
 * Creates the run's approval gate with its Update/Signal handlers installed, mirroring every decision into
 * `doc` and logging through `rec`.
 */
export function installApprovalGate(
  requestedBy: string,
  doc: ApprovalFields,
  rec: { now(): string; event(level: EventLevel, message: string): void },
  /** Why the plan may not be approved at all (a policy denies it), or undefined. */
  denied?: () => string | undefined,
  /** The run's document for the decision Updates' answers (ApprovalGateOptions.answer). */
  answer?: ApprovalGateOptions['answer'],
): ApprovalGate {
  const gate: ApprovalGate = new ApprovalGate({
    requestedBy,
    denied,
    answer,
    onChange: () => {
      const v = gate.view();
      doc.approvals = v.approvals;
      doc.rejection = v.rejection;
      doc.refusedDecisions = v.refused;
      doc.approvalExpiresAt = v.expiresAt;
      doc.updatedAt = rec.now();
    },
    log: (level, message) => rec.event(level, message),
  });
  gate.install();
  return gate;
}
