/**
 * The Temporal codec server (https://docs.temporal.io/production-deployment/data-encryption): the Web UI
 * (`--ui-codec-endpoint`) and `temporal workflow show --codec-endpoint ... --codec-auth 'Bearer <token>'` post
 * encrypted payloads here and get them back decrypted, so operators read runs without holding the key.
 * Viewers may decode; the key never leaves this process.
 */
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AesGcmCodec } from '../../client';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode } from '../../shared/errors';
import { authenticate, requireRole, type Authenticator } from '../auth';
import { HttpError } from '../http-errors';
import type { RouteRegistry } from '../routes';

const payloadJson = z.strictObject({
  metadata: z.record(z.string(), z.string().max(4096)).optional(),
  data: z.string().optional(),
});
// Proto JSON omits an empty repeated field: the temporal CLI encodes a query without arguments as `{}`.
const payloadsBody = z.strictObject({ payloads: z.array(payloadJson).max(1000).default([]) });
type PayloadJson = z.infer<typeof payloadJson>;

const toPayload = (p: PayloadJson) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
  ),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const fromPayload = (p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }): PayloadJson => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export function codecRouter(
  registry: RouteRegistry,
  deps: { config: StrataConfig; codec: AesGcmCodec; auth: Authenticator },
): { mount: string; router: Router } {
  const { config, codec } = deps;
  const router = Router();
  const origins = new Set(config.codec.uiOrigins);

  // CORS for the Web UI's origin only; the UI sends X-Namespace and, where it has one, Authorization.
  router.use('/codec', (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    }
    if (req.method === 'OPTIONS') {
      res.status(origin && origins.has(origin) ? 204 : 403).end();
      return;
    }
    next();
  });

  const authed = authenticate(deps.auth);
  const uiTrusted = (origin: string | undefined) => config.codec.uiWithoutToken && !!origin && origins.has(origin);
  const gate: RequestHandler = (req, res, next) => {
    if (!req.headers.authorization && uiTrusted(req.headers.origin)) {
      req.principal = { subject: 'web-ui', roles: ['viewer'] };
      next();
      return;
    }
    authed(req, res, (err?: unknown) => (err ? next(err) : requireRole('viewer')(req, res, next)));
  };
  // Mounted before the app's JSON parser: a history's payloads can be larger than the API's usual body limit.
  router.use('/codec', express.json({ limit: '4mb' }), gate);

  for (const op of ['encode', 'decode'] as const) {
    registry.add(
      router,
      '',
      {
        method: 'post',
        path: `/codec/${op}`,
        summary:
          op === 'decode' ? 'Codec server: decrypt payloads for the Web UI and CLI' : 'Codec server: encrypt payloads',
        tags: ['codec'],
        roles: ['viewer'],
        temporal: false,
        body: payloadsBody,
        responses: { 200: { description: `payloads ${op}d`, schema: payloadsBody } },
      },
      async (req, res) => {
        const payloads = req.body.payloads.map(toPayload);
        try {
          const out = op === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
          res.json({ payloads: out.map(fromPayload) });
        } catch (err) {
          // A payload sealed with an unknown key, or tampered with, is the caller's problem, not a 5xx.
          throw new HttpError(400, ErrorCode.VALIDATION_FAILED, `cannot ${op} payloads: ${(err as Error).message}`);
        }
      },
    );
  }
  return { mount: '', router };
}
