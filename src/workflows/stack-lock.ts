/**
 * One lock and FIFO run queue (high priority ahead of normal) per stack+environment, like a Terraform Cloud workspace: one run at a time
 * applies. The lock is a workflow, so it survives every crash; a holder that dies (terminated, timed out,
 * crashed beyond retries) is noticed by a periodic check and the lock passes on, so no lock stays stuck.
 *
 * A lock workflow can still vanish (terminated by an operator, reset) while runs hold and wait. Runs repeat
 * their request while they wait and the holder re-asserts itself while it holds, so the next one re-creates
 * the lock; a lock that starts without carried state grants nobody until every running run of its stack has
 * been heard from, so a holder the fresh lock does not know yet is never joined by a second one.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { TemporalActivities } from '../activities/temporal';
import {
  acquireSignal,
  DEFAULT_LOCK_HOLDER_CHECK_MS,
  forceUnlockSignal,
  lockGrantedSignal,
  lockRecoveringSignal,
  lockReRequestIntervalMs,
  lockStateQuery,
  releaseSignal,
  type ForceUnlockRequest,
  type LockRequest,
  type StackLockInput,
  type StackLockState,
} from '../contracts/lock';
import { runIdFromWorkflowId } from '../contracts/runs';
import { pushBounded } from './run-recorder';

/** The holder check as lock workflows started before recovery existed schedule it. */
const legacyChecks = proxyActivities<TemporalActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });
/** Liveness and recovery look-ups: few attempts, because the next tick is the retry. */
const checks = proxyActivities<TemporalActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 2 } });
/**
 * The holder check as a local activity: one `describe`, a read that may run twice, so it needs no task of its own.
 * A check is then one workflow task (the timer fires, the look-up runs inside it) instead of two and an activity
 * task; a thousand locks held behind approvals check their holders at half the cost.
 */
const localChecks = proxyLocalActivities<TemporalActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 2 },
});

/**
 * The grant as a local activity: the signal to the run is sent from inside the lock's workflow task, so the lock
 * needs no second task to learn that a signal-external command was delivered. A signal waits for nobody's
 * workflow task, so holding this task open for it can never wait on the run.
 */
const localGrants = proxyLocalActivities<Pick<TemporalActivities, 'grantStackLock'>>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3 },
});

/** An idle lock workflow lingers this long for new requests before it completes. */
const IDLE_LINGER_MS = 60_000;
const HISTORY_KEEP = 20;
const DEFAULT_GRANTS_PER_RUN = 200;
/** patched() ids: wire names, never change or reuse. */
const PATCH_LOCK_RECOVERY = 'lock-recovery';
const PATCH_HOLDER_CHECK_BACKOFF = 'holder-check-backoff';
const PATCH_LOCAL_HOLDER_CHECK = 'local-holder-check';
const PATCH_LOCAL_GRANT = 'lock-grant-local';

/** The lock's state and the rules that change it; handlers and loop steps below share one instance. */
class StackLock {
  readonly state: StackLockState;
  readonly checkMs: number;
  grants = 0;
  /** Runs already asked to announce themselves during this recovery. */
  private readonly asked = new Set<string>();
  /** When recovery first saw each silent run reporting `queued`. */
  private readonly queuedSince = new Map<string, number>();
  /** How often runs repeat their requests: the longest a run that can answer stays silent. */
  readonly reRequestMs: number;
  /** Checks of the current holder so far (the interval doubles with each, see watchHolder). */
  private holderChecks = 0;
  private checkedHolder?: string;
  /** Set by the workflow: back off the holder checks (false while replaying a lock started before). */
  backoff = false;
  /** Set by the workflow: check the holder in a local activity (false while replaying a lock started before). */
  localCheck = false;

  constructor(
    readonly input: StackLockInput,
    /** Recovery, re-assertion and ordered queueing; false while replaying a lock started before them. */
    readonly recoveryAware: boolean,
  ) {
    this.state = input.state ?? { stack: input.stack, environment: input.environment, queue: [], history: [] };
    this.checkMs = input.holderCheckIntervalMs ?? DEFAULT_LOCK_HOLDER_CHECK_MS;
    this.reRequestMs = lockReRequestIntervalMs(this.checkMs);
    // Nothing carried over means the previous lock workflow is gone, however it ended: find out who holds.
    if (recoveryAware && !input.state) this.state.recovery = { since: this.now(), announced: [], waitingFor: [] };
  }

  now(): string {
    return new Date().toISOString();
  }

  note(workflowId: string, reason: string): void {
    pushBounded(this.state.history, { workflowId, releasedAt: this.now(), reason }, HISTORY_KEEP);
  }

  private announce(workflowId: string): void {
    const r = this.state.recovery;
    if (r && !r.announced.includes(workflowId)) r.announced.push(workflowId);
  }

  acquire(req: LockRequest): void {
    const { state } = this;
    this.announce(req.workflowId);
    if (req.holding) return this.reassert(req.workflowId);
    // Duplicate requests (a retried or repeated signal-with-start) must not queue a run twice.
    if (state.holder?.workflowId === req.workflowId || state.queue.some((q) => q.workflowId === req.workflowId)) return;
    const entry = {
      workflowId: req.workflowId,
      requestedAt: req.requestedAt ?? this.now(),
      priority: req.priority ?? 'normal',
    };
    // High priority waits ahead of every normal waiter, behind earlier high ones; the holder is never displaced.
    const rank = (q: LockRequest) => (q.priority === 'high' ? 0 : 1);
    const behind = this.recoveryAware
      ? // Runs re-queue after a lost lock in whatever order their repeats arrive; their first request time keeps FIFO.
        (q: LockRequest) =>
          rank(q) > rank(entry) || (rank(q) === rank(entry) && (q.requestedAt ?? '') > entry.requestedAt)
      : (q: LockRequest) => rank(q) > rank(entry);
    const at = state.queue.findIndex(behind);
    state.queue.splice(at < 0 ? state.queue.length : at, 0, entry);
  }

  /** A holder says it holds: only a lock still recovering, with no holder yet, takes its word for it. */
  private reassert(workflowId: string): void {
    const { state } = this;
    if (state.holder?.workflowId === workflowId) return;
    if (state.recovery && !state.holder) {
      state.queue = state.queue.filter((q) => q.workflowId !== workflowId);
      state.holder = { workflowId, since: this.now() };
      log.info('holder re-asserted itself to a recovering lock', { holder: workflowId });
    } else if (state.holder) {
      log.error('a run claims the lock another run holds; ignored', {
        claimant: workflowId,
        holder: state.holder.workflowId,
      });
    } else {
      // Its release, or a force-unlock, came first: the claim is stale.
      log.warn('ignored a re-assertion from a run that no longer holds the lock', { claimant: workflowId });
    }
  }

  release(workflowId: string): void {
    const { state } = this;
    this.announce(workflowId);
    if (state.holder?.workflowId === workflowId) state.holder = undefined;
    else state.queue = state.queue.filter((q) => q.workflowId !== workflowId);
  }

  /** Drops the holder for an admin, but only the holder the admin named: a stale unlock never frees its successor. */
  forceUnlock({ by, via, reason, expectedHolder }: ForceUnlockRequest): void {
    const { state } = this;
    const holder = state.holder?.workflowId;
    if (!holder) return;
    if (!expectedHolder || (expectedHolder !== holder && runIdFromWorkflowId(holder) !== expectedHolder)) {
      log.warn('force-unlock refused: it names another holder', { by, expectedHolder, holder, reason });
      pushBounded((state.refusedUnlocks ??= []), { by, expectedHolder, holder, at: this.now() }, HISTORY_KEEP);
      return;
    }
    log.warn('lock force-unlocked', { by, via, holder, reason });
    this.note(holder, `force-unlocked by ${by}${via ? ` (via ${via})` : ''}${reason ? `: ${reason}` : ''}`);
    state.holder = undefined;
  }

  install(): void {
    setHandler(lockStateQuery, () => this.state);
    setHandler(acquireSignal, (req) => this.acquire(req));
    setHandler(releaseSignal, ({ workflowId }) => this.release(workflowId));
    setHandler(forceUnlockSignal, (req) => this.forceUnlock(req));
  }

  /** Grants the lock to the first in line; a run that closed before its turn is skipped. */
  async grantNext(): Promise<void> {
    const { state } = this;
    const next = state.queue.shift()!;
    state.holder = { workflowId: next.workflowId, since: this.now() };
    this.grants++;
    const grant = { lockWorkflowId: workflowInfo().workflowId, workflowId: next.workflowId };
    let delivered: boolean | undefined;
    if (patched(PATCH_LOCAL_GRANT)) {
      // Unanswered after its attempts: the signal-external command below still tells the run, however long it takes.
      delivered = await localGrants.grantStackLock(grant).catch(() => undefined);
    }
    if (delivered === undefined) {
      delivered = await getExternalWorkflowHandle(next.workflowId)
        .signal(lockGrantedSignal, { lockWorkflowId: grant.lockWorkflowId })
        .then(
          () => true,
          () => false,
        );
    }
    if (!delivered) {
      this.note(next.workflowId, 'run was no longer running when its turn came');
      state.holder = undefined;
    }
  }

  /** Waits for the holder's release; every check interval, makes sure it still runs. */
  async watchHolder(): Promise<void> {
    const { state } = this;
    const holder = state.holder!.workflowId;
    if (this.checkedHolder !== holder) [this.checkedHolder, this.holderChecks] = [holder, 0];
    // Soon after the grant, then less and less often, up to the holder's own re-assertion interval: a run that
    // waits hours for an approval costs its lock a check every few minutes, not every 15 s (a thousand open runs
    // were a hundred workflow tasks a second), and a holder that died is still noticed within that interval.
    const every = this.backoff ? Math.min(this.checkMs * 2 ** this.holderChecks, this.reRequestMs) : this.checkMs;
    const released = await condition(() => state.holder?.workflowId !== holder, every);
    if (released) return;
    this.holderChecks++;
    let running = true;
    try {
      const via = !this.recoveryAware ? legacyChecks : this.localCheck ? localChecks : checks;
      running = await via.isWorkflowRunning(holder);
    } catch (err) {
      // Unknown is not dead: keep the holder and ask again on the next tick.
      log.warn('could not check the lock holder; checking again on the next tick', { holder, error: String(err) });
    }
    if (!running && state.holder?.workflowId === holder) {
      log.warn('lock holder is no longer running; releasing', { holder });
      this.note(holder, 'holder stopped running without releasing (terminated, timed out or crashed)');
      state.holder = undefined;
    }
  }

  /**
   * One recovery tick: look up the stack's running runs and ask those not heard from to announce themselves;
   * done once each has. A run that keeps reporting `queued` longer than a run's re-request interval is a waiter
   * that cannot answer (started before runs repeated their requests), never a holder, so it stops the wait.
   */
  async recoverTick(): Promise<void> {
    const r = this.state.recovery!;
    let listed = false;
    try {
      const inFlight = await checks.stackRunsInFlight({ stack: this.state.stack, environment: this.state.environment });
      const silent = inFlight.filter((run) => !r.announced.includes(run.workflowId));
      const now = Date.now();
      for (const run of silent) {
        if (run.status !== 'queued') this.queuedSince.delete(run.workflowId);
        else if (!this.queuedSince.has(run.workflowId)) this.queuedSince.set(run.workflowId, now);
      }
      const mute = (id: string) => this.queuedSince.has(id) && now - this.queuedSince.get(id)! >= this.reRequestMs;
      r.waitingFor = silent.map((run) => run.workflowId).filter((id) => !mute(id));
      listed = true;
    } catch (err) {
      log.warn('could not list the runs in flight; trying again on the next tick', { error: String(err) });
    }
    if (listed && r.waitingFor.length === 0) {
      log.info('lock recovered', {
        holder: this.state.holder?.workflowId,
        queue: this.state.queue.map((q) => q.workflowId),
      });
      this.state.recovery = undefined;
      return;
    }
    if (listed) await this.askToAnnounce(r.waitingFor);
    await condition(() => listed && r.waitingFor.every((id) => r.announced.includes(id)), this.checkMs);
  }

  /** Asks runs not heard from to announce themselves now rather than at their next repeat. */
  private async askToAnnounce(workflowIds: string[]): Promise<void> {
    const fresh = workflowIds.filter((w) => !this.asked.has(w));
    fresh.forEach((id) => this.asked.add(id));
    await Promise.all(
      fresh.map((id) =>
        getExternalWorkflowHandle(id)
          .signal(lockRecoveringSignal, { lockWorkflowId: workflowInfo().workflowId })
          // Closed meanwhile: the next look-up no longer lists it.
          .catch(() => undefined),
      ),
    );
  }

  /** No holder, nobody waiting: true once the lock has lingered without a new request and may complete. */
  async idle(): Promise<boolean> {
    const woke = await condition(() => this.state.queue.length > 0, IDLE_LINGER_MS);
    if (woke) return false;
    // Finish once every handler is done; the next run's signal-with-start opens a fresh one.
    await condition(allHandlersFinished);
    return this.state.queue.length === 0 && !this.state.holder;
  }
}

export async function stackLockWorkflow(input: StackLockInput): Promise<void> {
  const lock = new StackLock(input, patched(PATCH_LOCK_RECOVERY));
  lock.backoff = patched(PATCH_HOLDER_CHECK_BACKOFF);
  lock.localCheck = patched(PATCH_LOCAL_HOLDER_CHECK);
  lock.install();
  const { state } = lock;
  const grantsPerRun = input.continueAsNewAfterGrants ?? DEFAULT_GRANTS_PER_RUN;

  for (;;) {
    if (state.recovery) {
      await lock.recoverTick();
    } else if (!state.holder && state.queue.length > 0) {
      await lock.grantNext();
      continue;
    } else if (state.holder) {
      await lock.watchHolder();
    } else if (await lock.idle()) {
      return;
    }

    if (workflowInfo().continueAsNewSuggested || lock.grants >= grantsPerRun) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof stackLockWorkflow>({ ...input, state });
    }
  }
}
