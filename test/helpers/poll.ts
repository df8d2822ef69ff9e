/**
 * The one polling helper of the test tree. Tests never sleep for a fixed time: they poll observable state
 * with a deadline, and a timeout says what was awaited and what was last seen.
 */

/** How `poll` waits. */
export interface PollOptions {
  /** What is awaited, for the timeout message; a function is read at timeout (so it can show the last state seen). */
  what: string | (() => string);
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  everyMs?: number;
  /**
   * `retry` (default): an attempt that throws counts as "not yet" (the thing polled may not exist yet) and the
   * last error is quoted at timeout. `throw`: an error ends the poll at once (for fail-fast checks).
   */
  errors?: 'retry' | 'throw';
}

type Falsy = undefined | null | false | 0 | '';

/** Calls `fn` until it returns a truthy value and returns that value; throws once `timeoutMs` has passed. */
export async function poll<T>(fn: () => Promise<T | Falsy> | T | Falsy, opts: PollOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const everyMs = opts.everyMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      if (opts.errors === 'throw') throw err;
      lastErr = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const what = typeof opts.what === 'function' ? opts.what() : opts.what;
      const why = lastErr ? `: last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    // The last pause is cut short so the final attempt happens at the deadline, not after it.
    await new Promise((r) => setTimeout(r, Math.min(everyMs, left)));
  }
}
