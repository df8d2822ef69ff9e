/**
 * The apply lease (ApplyLease in the state store) as the executors use it. An attempt takes the lease before it
 * touches a stack/environment's resources and keeps it renewed; the tool's watchdog renews it too while the tool
 * runs, also after the worker died (tofu/apply-watchdog.ts). Another attempt, on any machine, waits while the
 * lease is renewed, and takes it once it is released or has stood still for its whole TTL, measured on the
 * waiter's own clock (so clock skew between machines does not matter).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode } from '../shared/errors';
import type { ApplyLease, StateStore } from '../store/state-store';
import type { ExecutorContext } from './types';

/** Without a renewal for this long, a lease is free for the taking (the holder fences itself after half of it). */
export const DEFAULT_LEASE_TTL_MS = 30_000;

/** Renewals per TTL: several may be lost before the lease runs out. */
const RENEWALS_PER_TTL = 6;

/** Who holds a lease taken in this process, for messages. */
export const holderName = (): string => `${os.hostname()}:${process.pid}`;

/** The renewal of `token`'s lease, or undefined (changes nothing) when the lease is no longer that one. */
export function renewal(token: string): (current: ApplyLease | undefined) => ApplyLease | undefined {
  return (current) =>
    current && current.token === token && !current.released
      ? { ...current, seq: current.seq + 1, renewedAt: new Date().toISOString() }
      : undefined;
}

/** The release of `token`'s lease with what is known about the state it leaves. */
export function release(
  token: string,
  outcome: NonNullable<ApplyLease['released']>['outcome'],
  stateSerial?: number,
): (current: ApplyLease | undefined) => ApplyLease | undefined {
  return (current) =>
    current && current.token === token && !current.released
      ? { ...current, released: { at: new Date().toISOString(), by: holderName(), outcome, stateSerial } }
      : undefined;
}

/** The renewal interval for a TTL. */
export const renewEveryMs = (ttlMs: number): number => Math.max(100, Math.floor(ttlMs / RENEWALS_PER_TTL));

/** A lease this attempt holds. */
export interface HeldLease {
  readonly token: string;
  readonly ttlMs: number;
  /** The lease this one replaced: released by its holder, or expired (`expired`) without a release. */
  readonly previous?: ApplyLease & { expired: boolean };
  /** Records that a tool is about to change resources; throws if the lease was lost meanwhile. */
  markTool(planHash: string): Promise<void>;
  /** Stops this process's renewals (a watchdog may go on renewing). */
  stopRenewing(): void;
  /** Whether a renewal found the lease taken by someone else (it had run out): stop changing resources. */
  lost(): boolean;
  release(outcome: NonNullable<ApplyLease['released']>['outcome'], stateSerial?: number): Promise<void>;
}

function lost(ctx: ExecutorContext, what: string): ApplicationFailure {
  // Retryable: the next attempt waits for whoever holds the lease now, then looks at the state afresh.
  return ApplicationFailure.create({
    type: ErrorCode.APPLY_HANDED_OVER,
    nonRetryable: false,
    message: `lost the apply lease of ${ctx.stack}/${ctx.environment} ${what}`,
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Takes the apply lease of the context's stack/environment, waiting (heartbeating) while someone else renews it.
 * A cancellation of the run while waiting asks the holder's watchdog to interrupt its tool and fails with
 * APPLY_INTERRUPTED; a worker shutdown while waiting fails retryably (APPLY_HANDED_OVER).
 */
export async function acquireApplyLease(
  ctx: ExecutorContext,
  opts: { ttlMs?: number; pollMs?: number } = {},
): Promise<HeldLease> {
  const store: StateStore = ctx.state;
  const ttlMs = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const token = randomUUID();
  const fresh = (): ApplyLease => ({
    runId: ctx.runId,
    token,
    holder: holderName(),
    phase: 'acquired',
    ttlMs,
    seq: 0,
    renewedAt: new Date().toISOString(),
  });
  let watched: { token: string; seq: number; since: number } | undefined;
  let logged = false;
  for (;;) {
    const now = Date.now();
    let previous: (ApplyLease & { expired: boolean }) | undefined;
    const after = await store.updateApplyLease(ctx.stack, ctx.environment, (current) => {
      previous = current ? { ...current, expired: false } : undefined;
      if (!current || current.released) return fresh();
      const standingStill = watched && current.token === watched.token && current.seq === watched.seq;
      if (standingStill && now - watched!.since >= current.ttlMs) {
        previous = { ...current, expired: true };
        return fresh();
      }
      return undefined;
    });
    if (after?.token === token) {
      if (previous?.expired) {
        ctx.log({
          level: 'warn',
          message: `took over the apply lease of run ${previous.runId} (${previous.holder}): not renewed for ${ttlMs} ms`,
        });
      }
      return hold(ctx, token, ttlMs, previous);
    }
    const holder = after!;
    if (!watched || watched.token !== holder.token || watched.seq !== holder.seq) {
      watched = { token: holder.token, seq: holder.seq, since: Date.now() };
    }
    if (!logged) {
      logged = true;
      ctx.log({
        level: 'warn',
        message: `waiting for the apply lease held by run ${holder.runId} (${holder.holder}, ${holder.phase}): an apply is under way`,
      });
    }
    if (ctx.signal.aborted) {
      if (ctx.cancelledByRun?.() ?? true) {
        await store.updateApplyLease(ctx.stack, ctx.environment, (c) =>
          c && c.token === holder.token && !c.released ? { ...c, interrupt: true } : undefined,
        );
        throw ApplicationFailure.create({
          type: ErrorCode.APPLY_INTERRUPTED,
          nonRetryable: true,
          message:
            `apply cancelled while the apply of run ${holder.runId} (${holder.holder}) still held the lease: ` +
            'its tool was asked to stop and stores the state it leaves when it does; nothing was applied by this attempt',
          details: [{ holder: holder.holder, runId: holder.runId }],
        });
      }
      throw ApplicationFailure.create({
        type: ErrorCode.APPLY_HANDED_OVER,
        nonRetryable: false,
        message: `the worker stopped while waiting for the apply lease held by ${holder.holder}`,
      });
    }
    ctx.heartbeat({ phase: 'wait-apply-lease', holder: holder.holder, runId: holder.runId, seq: holder.seq });
    await sleep(opts.pollMs ?? 1000, ctx.signal);
  }
}

function hold(
  ctx: ExecutorContext,
  token: string,
  ttlMs: number,
  previous: (ApplyLease & { expired: boolean }) | undefined,
): HeldLease {
  const store = ctx.state;
  let lastOk = Date.now();
  let taken = false;
  const timer = setInterval(() => {
    store.updateApplyLease(ctx.stack, ctx.environment, renewal(token)).then(
      (l) => {
        if (l?.token === token && !l.released) lastOk = Date.now();
        else taken = true;
      },
      (err: unknown) => {
        if (Date.now() - lastOk > ttlMs / 2)
          ctx.log({ level: 'error', message: `cannot renew the apply lease: ${String(err)}` });
      },
    );
  }, renewEveryMs(ttlMs));
  timer.unref();
  return {
    token,
    ttlMs,
    previous,
    async markTool(planHash) {
      const l = await store.updateApplyLease(ctx.stack, ctx.environment, (c) =>
        c && c.token === token && !c.released ? { ...c, phase: 'tool', planHash, seq: c.seq + 1 } : undefined,
      );
      if (l?.token !== token) throw lost(ctx, `before the tool started (now held by ${l?.holder ?? 'no one'})`);
    },
    stopRenewing: () => clearInterval(timer),
    // Also when renewals failed for longer than the TTL: by now someone may hold it.
    lost: () => taken || Date.now() - lastOk > ttlMs,
    async release(outcome, stateSerial) {
      clearInterval(timer);
      await store.updateApplyLease(ctx.stack, ctx.environment, release(token, outcome, stateSerial));
    },
  };
}
