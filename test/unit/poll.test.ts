/** The test tree's one polling helper: what it returns, how it gives up, and how it treats errors. */
import { poll } from '../helpers/poll';

describe('poll', () => {
  test('returns the first truthy value', async () => {
    let n = 0;
    await expect(poll(() => ++n >= 3 && { n }, { what: 'three calls', everyMs: 1 })).resolves.toEqual({ n: 3 });
    expect(n).toBe(3);
  });

  test('gives up at the deadline, naming what it waited for and the last error', async () => {
    let calls = 0;
    const started = Date.now();
    const p = poll(
      () => {
        calls++;
        throw new Error('not there yet');
      },
      { what: () => `the thing (after ${calls} calls)`, timeoutMs: 50, everyMs: 10 },
    );
    await expect(p).rejects.toThrow(
      /timed out after 50 ms waiting for the thing \(after \d+ calls\): last error: not there yet/,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    expect(calls).toBeGreaterThan(1);
  });

  test("errors: 'throw' fails at the first error", async () => {
    let calls = 0;
    const p = poll(
      () => {
        calls++;
        throw new Error('wrong terminal status');
      },
      { what: 'x', timeoutMs: 10_000, errors: 'throw' },
    );
    await expect(p).rejects.toThrow('wrong terminal status');
    expect(calls).toBe(1);
  });
});
