/**
 * A run's side of the stack lock: queue on it, wait for the grant, let go. The lock workflow itself (queue,
 * dead-holder detection, force-unlock) is stack-lock.ts.
 */
import { condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import { lockGrantedSignal, releaseSignal, stackLockWorkflowId } from '../contracts/lock';
import { locks } from './stack-change-activities';

/** The lock of one stack+environment as seen by the run that wants it. */
export class StackLockHold {
  private requested = false;
  private granted = false;
  private readonly workflowId = workflowInfo().workflowId;
  private readonly lockId: string;

  constructor(
    private readonly stack: string,
    private readonly environment: string,
  ) {
    this.lockId = stackLockWorkflowId(stack, environment);
    setHandler(lockGrantedSignal, () => {
      this.granted = true;
    });
  }

  /** Queues this run on the lock and waits until the lock grants it. */
  async acquire(log: (message: string) => void): Promise<void> {
    this.requested = true;
    await locks.requestStackLock({ stack: this.stack, environment: this.environment, workflowId: this.workflowId });
    log('waiting for the stack lock');
    await condition(() => this.granted);
    log('stack lock acquired');
  }

  /** Lets go of the lock (or leaves the queue); a no-op when this run never asked or already let go. */
  async release(): Promise<void> {
    if (!this.requested) return;
    this.requested = false;
    try {
      await getExternalWorkflowHandle(this.lockId).signal(releaseSignal, { workflowId: this.workflowId });
    } catch {
      // The lock workflow notices dead or finished holders on its own; nothing is stuck.
    }
  }
}
