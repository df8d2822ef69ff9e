/**
 * Live logs for browsers. EventSource cannot send an Authorization header, so a signed-in page first POSTs (with
 * its bearer token) to mint a stream grant: a short-lived HMAC-signed cookie scoped to that one run's log path,
 * HttpOnly and SameSite=Strict. The bearer token itself never appears in a URL, and the grant opens only the log
 * stream of the run it names, for the caller it was minted for, for a minute.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Role } from '../../shared/config';
import type { SignerKey } from '../../shared/decision-signing';
import { ErrorCode } from '../../shared/errors';
import type { Principal } from '../../shared/principal';
import type { RunService } from '../deployments/run-service';
import { idParams } from '../deployments/schemas';
import { HttpError } from '../http-errors';
import type { RouteRegistry } from '../routes';

/** How long a minted grant may be used to open the stream (an open stream runs on until the run ends). */
export const STREAM_GRANT_TTL_MS = 60_000;
const COOKIE = 'strata_stream';
const LOGS_PATH = /^\/deployments\/([A-Za-z0-9._-]{1,100})\/logs$/;

interface Grant {
  sub: string;
  roles: Role[];
  envRoles?: Record<string, Role[]>;
  run: string;
  exp: number;
}

/**
 * The grant key: derived from the API's decision-signing key, so every API instance behind a load balancer
 * accepts the grants the others mint; a process without one gets a random key (grants then stay on that instance).
 */
export function streamGrantKey(signers: Map<string, SignerKey>): Buffer {
  const api = signers.get('api');
  return api ? createHmac('sha256', api.key).update('strata-stream-grant/v1').digest() : randomBytes(32);
}

const sign = (body: string, key: Buffer) => createHmac('sha256', key).update(body).digest('base64url');

/** `<base64url json>.<hmac>` for the caller and run. */
export function mintStreamGrant(
  p: Principal,
  runId: string,
  key: Buffer,
  now = Date.now(),
): { value: string; expiresAt: string } {
  const grant: Grant = {
    sub: p.subject,
    roles: p.roles,
    envRoles: p.environmentRoles,
    run: runId,
    exp: now + STREAM_GRANT_TTL_MS,
  };
  const body = Buffer.from(JSON.stringify(grant)).toString('base64url');
  return { value: `${body}.${sign(body, key)}`, expiresAt: new Date(grant.exp).toISOString() };
}

/** The principal a grant speaks for, or a reason it does not. Never throws for bad input. */
export function verifyStreamGrant(
  value: string,
  runId: string,
  key: Buffer,
  now = Date.now(),
): { ok: true; principal: Principal } | { ok: false; reason: string } {
  const [body, sig] = value.split('.');
  if (!body || !sig) return { ok: false, reason: 'malformed stream grant' };
  const want = Buffer.from(sign(body, key));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got))
    return { ok: false, reason: 'stream grant does not verify' };
  let g: Grant;
  try {
    g = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Grant;
  } catch {
    return { ok: false, reason: 'malformed stream grant' };
  }
  if (g.run !== runId) return { ok: false, reason: `stream grant is for run ${g.run}, not ${runId}` };
  if (!(g.exp > now)) return { ok: false, reason: 'stream grant expired; mint a new one' };
  return { ok: true, principal: { subject: g.sub, roles: g.roles ?? [], environmentRoles: g.envRoles, via: 'token' } };
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * In front of the bearer check under /api/v1: a GET of one run's log without an Authorization header but with a
 * stream grant cookie is authenticated by the grant; every other request goes to `bearer` unchanged.
 */
export function bearerOrStreamGrant(bearer: RequestHandler, key: Buffer): RequestHandler {
  return (req, res, next) => {
    const m = req.method === 'GET' && !req.headers.authorization ? LOGS_PATH.exec(req.path) : null;
    const grant = m ? cookieValue(req.headers.cookie, COOKIE) : undefined;
    if (!m || !grant) return bearer(req, res, next);
    const v = verifyStreamGrant(grant, m[1], key);
    if (!v.ok) return next(new HttpError(401, ErrorCode.UNAUTHENTICATED, v.reason));
    req.principal = v.principal;
    next();
  };
}

const grantSchema = z.object({ runId: z.string(), expiresAt: z.string(), stream: z.string() });
const sessionSchema = z.object({
  subject: z.string(),
  roles: z.array(z.string()),
  environmentRoles: z.record(z.string(), z.array(z.string())),
});

/** POST /api/v1/deployments/:id/stream-grant and GET /api/v1/session (who the bearer token is, for the pages). */
export function webApiRouters(
  registry: RouteRegistry,
  runs: RunService,
  key: Buffer,
): { mount: string; router: Router }[] {
  const deployments = Router();
  registry.add(
    deployments,
    '/api/v1/deployments',
    {
      method: 'post',
      path: '/:id/stream-grant',
      summary:
        "Mint a one-minute cookie that lets a browser's EventSource open this run's live log (no bearer token in URLs)",
      tags: ['deployments'],
      roles: ['viewer'],
      params: idParams,
      responses: {
        200: { description: 'grant set as an HttpOnly cookie scoped to the log path', schema: grantSchema },
        404: { description: 'no such run' },
      },
    },
    async (req, res) => {
      const d = await runs.get(req.parsedParams.id);
      const { value, expiresAt } = mintStreamGrant(req.principal!, d.id, key);
      const stream = `/api/v1/deployments/${d.id}/logs`;
      res.setHeader(
        'Set-Cookie',
        `${COOKIE}=${value}; Path=${stream}; Max-Age=${STREAM_GRANT_TTL_MS / 1000}; HttpOnly; SameSite=Strict`,
      );
      res.json({ runId: d.id, expiresAt, stream });
    },
  );
  const session = Router();
  registry.add(
    session,
    '/api/v1',
    {
      method: 'get',
      path: '/session',
      summary: 'Who the bearer token speaks for, with their roles',
      tags: ['session'],
      temporal: false,
      responses: { 200: { description: 'the caller', schema: sessionSchema } },
    },
    (req, res) => {
      const p = req.principal!;
      res.json({ subject: p.subject, roles: p.roles, environmentRoles: p.environmentRoles ?? {} });
    },
  );
  return [
    { mount: '/api/v1/deployments', router: deployments },
    { mount: '/api/v1', router: session },
  ];
}
