/** Health for failovers: the wait for a target to serve (verify_health) and the monitor's probe. */
import { sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import type { FailoverSide } from '../../contracts/failover';
import type { FailoverCloud, GroupRef, HealthReport, OpContext } from './failover-cloud';

/** Polls `side` until healthy; after `timeoutMs` fails non-retryably (the wait already took the whole budget). */
export async function waitHealthy(
  cloud: FailoverCloud,
  g: GroupRef,
  side: FailoverSide,
  ctx: OpContext,
  opts: { timeoutMs: number; pollMs: number },
): Promise<HealthReport> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const h = await cloud.health(g, side, ctx);
    ctx.heartbeat(h.detail);
    if (h.healthy) return h;
    if (Date.now() + opts.pollMs > deadline) {
      throw ApplicationFailure.create({
        type: ErrorCode.FAILOVER_STEP_FAILED,
        message: `${side} did not become healthy within ${Math.round(opts.timeoutMs / 1000)}s: ${h.detail}`,
        nonRetryable: true,
      });
    }
    await sleep(opts.pollMs);
  }
}

/**
 * One observation for the monitor: HTTP GET of `health.url` when configured (2xx/3xx = healthy), else the
 * cloud's view of the active side. Never throws: an error is an unhealthy observation.
 */
export async function probeGroup(
  cloudOf: () => FailoverCloud,
  g: GroupRef,
  ctx: OpContext,
  opts: { timeoutMs: number; fetch: typeof fetch },
): Promise<HealthReport & { activeSide?: FailoverSide }> {
  const url = g.cfg.health.url;
  if (url) {
    try {
      const res = await opts.fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      return { healthy: res.status >= 200 && res.status < 400, detail: `GET ${url} → ${res.status}` };
    } catch (err) {
      return { healthy: false, detail: `GET ${url} failed: ${(err as Error).message}` };
    }
  }
  try {
    const cloud = cloudOf();
    const state = await cloud.readState(g);
    const h = await cloud.health(g, state.activeSide, ctx);
    return { ...h, activeSide: state.activeSide };
  } catch (err) {
    return { healthy: false, detail: `probe failed: ${(err as Error).message}` };
  }
}
