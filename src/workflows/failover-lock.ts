/**
 * The group's global failover lock as one run holds it: renewed at every stage start and, behind a patch, by a
 * loop for as long as the run holds it; a run that learns it lost the lock changes nothing more.
 */
import { ApplicationFailure, CancellationScope, isCancellation, patched, sleep } from '@temporalio/workflow';
import type { FailoverStageName } from '../contracts/failover';
import { errorOf } from './failover-record';
import { lockAndState, type StageRun } from './failover-run';

/** patched() ids: wire names, never change or reuse. */
/** The global lock is renewed while the run holds it, and a lost lock stops the run from changing anything. */
const PATCH_LOCK_RENEWAL = 'failover-lock-renewal';

/** A stage start renews the lock (and is refused once the run lost it). */
export function renewLock(run: StageRun, stage: FailoverStageName) {
  const { group, id } = run.input;
  return whileHoldingLock(run, () =>
    lockAndState.failoverAcquireLock({ group, failoverId: id, ttlMs: run.lockTtlMs, stage }),
  );
}

/** The failure a run that lost its lock stops with. */
export function lockLostFailure(run: StageRun): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'FAILOVER_LOCK_LOST',
    message: `global lock lost: ${run.lockLost?.message}`,
    nonRetryable: true,
  });
}

function markLockLost(run: StageRun, message: string): void {
  if (run.lockLost) return;
  run.lockLost = { message, at: run.rec.now() };
  run.rec.event('error', `global lock lost: ${message}; the run changes nothing more`);
}

/** A call that needs the lock: refused once the lock is lost; a refusal because it is gone marks it lost. */
export async function whileHoldingLock<T>(run: StageRun, fn: () => Promise<T>): Promise<T> {
  if (run.lockLost) throw lockLostFailure(run);
  try {
    return await fn();
  } catch (err) {
    const { code, message } = errorOf(err);
    if (!run.renewing || (code !== 'FAILOVER_IN_PROGRESS' && code !== 'FAILOVER_LOCK_LOST')) throw err;
    markLockLost(run, message);
    throw lockLostFailure(run);
  }
}

/**
 * Renews the global lock every third of its TTL while the run holds it, whatever runs meanwhile (a promotion
 * or a health wait may take an hour, an approval longer). Stops when the lock is lost; stop() ends it.
 */
export function keepLockRenewed(run: StageRun): { stop(): void } | undefined {
  if (!patched(PATCH_LOCK_RENEWAL)) return undefined;
  run.renewing = true;
  let renewal: CancellationScope | undefined;
  // Shielded from the run's own cancellation: compensations after a cancel still need the lock held.
  const loop = CancellationScope.nonCancellable(() => {
    renewal = new CancellationScope();
    return renewal.run(() => renewEvery(run, Math.max(1000, Math.floor(run.lockTtlMs / 3))));
  });
  void loop.catch(() => undefined); // stop() cancels the pending timer: that is its normal end
  return { stop: () => renewal?.cancel() };
}

async function renewEvery(run: StageRun, everyMs: number): Promise<void> {
  const { input, rec } = run;
  while (!run.lockLost) {
    await sleep(everyMs);
    const stage = rec.f.stages.find((x) => x.status === 'running')?.name ?? 'initialization';
    try {
      const renew = { group: input.group, failoverId: input.id, ttlMs: run.lockTtlMs, stage };
      await whileHoldingLock(run, () => lockAndState.failoverAcquireLock(renew));
    } catch (err) {
      if (isCancellation(err) || run.lockLost) return;
      // The state store may be briefly unreachable: the lock still runs for most of its TTL, try again.
      rec.event('warn', `could not renew the global lock (next try in ${everyMs} ms): ${errorOf(err).message}`);
    }
  }
}

/** Releases the global lock if this run holds it; a failure is reported, the lock expires on its own. */
export async function releaseLock({ input, rec }: StageRun): Promise<void> {
  try {
    const released = await lockAndState.failoverReleaseLock({ group: input.group, failoverId: input.id });
    rec.event('info', released ? 'global lock released' : 'global lock was not held');
  } catch (err) {
    rec.event('error', `could not release the global lock: ${errorOf(err).message}`);
  }
}
