/** Post-apply verification: HTTP checks against stack outputs, or a re-plan that must show no changes. */
import { ApplicationFailure } from '@temporalio/common';
import type { ExecutorContext } from '../../executors/types';
import { ErrorCode } from '../../shared/errors';

export interface HealthCheckInput {
  type: 'http' | 'replan' | 'output';
  equals?: unknown;
  output?: string;
  url?: string;
  expectStatus?: number;
  timeoutMs?: number;
  retries?: number;
}

function fail(message: string): never {
  throw ApplicationFailure.create({ type: ErrorCode.VERIFY_FAILED, message, nonRetryable: true });
}

async function httpCheck(
  check: HealthCheckInput,
  outputs: Record<string, unknown>,
  ctx: ExecutorContext,
): Promise<void> {
  const url = check.url ?? (check.output ? outputs[check.output] : undefined);
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
    fail(`health check needs a URL: output "${check.output ?? ''}" is ${JSON.stringify(url)}`);
  }
  const expect = check.expectStatus ?? 200;
  const attempts = (check.retries ?? 3) + 1;
  let last = '';
  for (let i = 1; i <= attempts; i++) {
    ctx.heartbeat({ check: url, attempt: i });
    try {
      const res = await fetch(url, {
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(check.timeoutMs ?? 10_000)]),
      });
      if (res.status === expect) {
        ctx.log({ level: 'info', message: `health check GET ${url} → ${res.status}` });
        return;
      }
      last = `status ${res.status}, expected ${expect}`;
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      last = (err as Error).message;
    }
    ctx.log({ level: 'warn', message: `health check GET ${url} attempt ${i}/${attempts} failed: ${last}` });
    if (i < attempts) await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (i - 1), 10_000)));
  }
  fail(`health check GET ${url} failed after ${attempts} attempts: ${last}`);
}

/** Runs every check in order; the first failure throws VERIFY_FAILED (non-retryable: the saga decides). */
export async function runHealthChecks(
  checks: HealthCheckInput[],
  outputs: Record<string, unknown>,
  ctx: ExecutorContext,
  replan: () => Promise<string | undefined>,
): Promise<void> {
  for (const check of checks) {
    if (check.type === 'http') {
      await httpCheck(check, outputs, ctx);
    } else if (check.type === 'output') {
      const actual = outputs[check.output ?? ''];
      const expected = check.equals ?? true;
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        fail(`output "${check.output}" is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
      }
      ctx.log({ level: 'info', message: `health check: output "${check.output}" is ${JSON.stringify(actual)}` });
    } else {
      const pending = await replan();
      if (pending) fail(`re-plan after apply is not empty: ${pending}`);
      ctx.log({ level: 'info', message: 'verification re-plan shows no changes' });
    }
  }
}
