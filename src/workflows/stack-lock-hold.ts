/**
 * A run's side of the stack lock: queue on it, wait for the grant, hold it, let go. The lock workflow itself
 * (queue, dead-holder detection, recovery, force-unlock) is stack-lock.ts.
 *
 * The lock workflow can vanish (terminated, reset) under a waiting or holding run. A waiting run therefore
 * repeats its request, and the holder re-asserts itself, every `reRequestEveryMs` and whenever a lock that
 * started afresh asks: signal-with-start re-creates a vanished lock, which learns its holder and its queue (in
 * the runs' original order) from them.
 */
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  lockGrantedSignal,
  lockRecoveringSignal,
  lockReRequestIntervalMs,
  releaseSignal,
  stackLockWorkflowId,
  type LockRequest,
} from '../contracts/lock';
import type { TemporalActivities } from '../activities/temporal';

/** patched() id: wire name, never change or reuse. */
const PATCH_LOCK_REREQUEST = 'lock-rerequest';
const PATCH_RELEASE_LOCAL = 'lock-release-local';

/** The lock of one stack+environment as seen by the run that wants it. */
export class StackLockHold {
  private requested = false;
  private granted = false;
  private holding = false;
  /** A fresh lock workflow asked this run to announce itself now rather than at its next repeat. */
  private asked = false;
  /** The holder's re-assertion loop; awaited before the release so no claim is still on its way after it. */
  private reasserting?: Promise<void>;
  private readonly workflowId = workflowInfo().workflowId;
  private readonly lockId: string;

  constructor(
    private readonly stack: string,
    private readonly environment: string,
    /** Where the run waits among the lock's waiters (high ahead of normal); default normal. */
    private readonly priority: LockRequest['priority'] | undefined,
    /**
     * How the lock is asked for and let go of: local activities for runs that have local steps. Without
     * `releaseStackLock` the release is a signal-external command.
     */
    private readonly locks: Pick<TemporalActivities, 'requestStackLock'> &
      Partial<Pick<TemporalActivities, 'releaseStackLock'>>,
  ) {
    this.lockId = stackLockWorkflowId(stack, environment);
    setHandler(lockGrantedSignal, () => {
      this.granted = true;
    });
    setHandler(lockRecoveringSignal, () => {
      this.asked = true;
    });
  }

  /** Queues this run on the lock and waits until the lock grants it; from then on it holds the lock. */
  async acquire(log: (message: string) => void): Promise<void> {
    this.requested = true;
    if (!patched(PATCH_LOCK_REREQUEST)) {
      await this.locks.requestStackLock({
        stack: this.stack,
        environment: this.environment,
        workflowId: this.workflowId,
        priority: this.priority,
      });
      log('waiting for the stack lock');
      await condition(() => this.granted);
      log('stack lock acquired');
      return;
    }
    // The first request's time rides along with every repeat: a re-created lock queues runs in this order.
    const request = {
      stack: this.stack,
      environment: this.environment,
      workflowId: this.workflowId,
      requestedAt: new Date().toISOString(),
      priority: this.priority,
    };
    // A request in flight is not cancelled with the run: one landing after the run's release would re-queue it.
    const ask = () => CancellationScope.nonCancellable(() => this.locks.requestStackLock(request));
    const reply = await ask();
    const every = reply?.reRequestEveryMs ?? lockReRequestIntervalMs();
    log('waiting for the stack lock');
    for (;;) {
      await condition(() => this.granted || this.asked, every);
      if (this.granted) break;
      this.asked = false;
      await ask();
    }
    log('stack lock acquired');
    this.holding = true;
    this.reasserting = CancellationScope.nonCancellable(async () => {
      // Not cancellable: a cancelled run still holds the lock until its clean-up releases it.
      for (;;) {
        await condition(() => !this.holding || this.asked, every);
        if (!this.holding) return;
        this.asked = false;
        await this.locks.requestStackLock({ ...request, holding: true }).catch(() => undefined);
      }
    });
  }

  /** Lets go of the lock (or leaves the queue); a no-op when this run never asked or already let go. */
  async release(): Promise<void> {
    if (!this.requested) return;
    this.requested = false;
    this.holding = false;
    await this.reasserting;
    // With local steps the release is a local activity: it is in the lock's history before the run's task
    // completes, and the run goes on (usually to its end) in that same task, rather than in one more task that
    // only learns that a signal-external command was delivered. A signal waits for nobody's workflow task.
    const { releaseStackLock } = this.locks;
    if (releaseStackLock && patched(PATCH_RELEASE_LOCAL)) {
      const release = { stack: this.stack, environment: this.environment, workflowId: this.workflowId };
      // Unanswered after its attempts: the signal-external command below still tells the lock, however long it
      // takes, rather than leaving it to notice the finished holder minutes later.
      const sent = await releaseStackLock(release).then(
        () => true,
        () => false,
      );
      if (sent) return;
    }
    try {
      await getExternalWorkflowHandle(this.lockId).signal(releaseSignal, { workflowId: this.workflowId });
    } catch {
      // The lock workflow notices dead or finished holders on its own; nothing is stuck.
    }
  }
}
