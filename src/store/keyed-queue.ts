/**
 * In-process serialization per key. Two recordVersion calls for the same stack/env in one worker would
 * otherwise both read "latest = n" and race for n + 1.
 */

/** Runs tasks for one key strictly one after another (in this process), independent keys in parallel. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    // The stored tail never rejects, so one failed task does not poison the queue for the next caller.
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
