/**
 * Per-caller rate limit on mutating routes: a token bucket per subject (refilled continuously), so one noisy
 * script cannot start hundreds of runs a second. Over the limit: 429 with Retry-After in seconds.
 */
import type { RequestHandler } from 'express';
import { ErrorCode } from '../shared/errors';
import { HttpError } from './http-errors';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Buckets untouched this long are dropped, so memory stays bounded by recent callers. */
const IDLE_MS = 10 * 60_000;

export function rateLimit(perMinute: number, now: () => number = Date.now): RequestHandler {
  const burst = Math.max(5, Math.ceil(perMinute / 10));
  const refillPerMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let sweptAt = now();
  return (req, res, next) => {
    if (perMinute <= 0 || !MUTATING.has(req.method) || !req.principal) return next();
    const t = now();
    if (t - sweptAt > IDLE_MS) {
      for (const [k, b] of buckets) if (t - b.at > IDLE_MS) buckets.delete(k);
      sweptAt = t;
    }
    const key = req.principal.subject;
    const b = buckets.get(key) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + (t - b.at) * refillPerMs);
    b.at = t;
    buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return next();
    }
    const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / refillPerMs / 1000));
    res.setHeader('Retry-After', String(retryAfter));
    next(
      new HttpError(
        429,
        ErrorCode.RATE_LIMITED,
        `${key} sent more than ${perMinute} changes a minute; retry in ${retryAfter}s`,
      ),
    );
  };
}

/** Headers every response carries: no sniffing, no framing, no referrer leaks, nothing loaded by a JSON response. */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  next();
};
