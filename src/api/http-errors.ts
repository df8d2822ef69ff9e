/**
 * The error envelope and the one place where errors become HTTP statuses: taxonomy codes by their row in
 * src/shared/errors.ts, body-parser and transport errors by kind. Services throw StrataError; only routes speak HTTP.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { ErrorCode, httpStatusOf, StrataError } from '../shared/errors';

/** The one error body every route answers with (`components.schemas.Error` in /openapi.json). */
export const errorEnvelopeSchema = z.object({
  error: z.object({
    code: z.string().describe('taxonomy code, e.g. VALIDATION_FAILED, NOT_FOUND, CONFLICT, UNAVAILABLE'),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorEnvelope = z.infer<typeof errorEnvelopeSchema>;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** 405 only: the methods the path does take. */
    readonly allow?: string[],
  ) {
    super(message);
  }
}

export const notFound = (message: string, details?: unknown) =>
  new HttpError(404, ErrorCode.NOT_FOUND, message, details);
export const conflict = (message: string, details?: unknown) =>
  new HttpError(409, ErrorCode.CONFLICT, message, details);
export const badRequest = (message: string, details?: unknown) =>
  new HttpError(400, ErrorCode.VALIDATION_FAILED, message, details);
export const forbidden = (message: string) => new HttpError(403, ErrorCode.FORBIDDEN, message);
export const methodNotAllowed = (method: string, path: string, allow: string[]) =>
  new HttpError(
    405,
    ErrorCode.METHOD_NOT_ALLOWED,
    `${method} is not allowed on ${path} (allowed: ${allow.join(', ')})`,
    undefined,
    allow,
  );

type GrpcLike = { code?: number; name?: string; message?: string; cause?: { code?: number; message?: string } };

function isUnavailable(err: unknown): boolean {
  const e = err as GrpcLike;
  // gRPC UNAVAILABLE / DEADLINE_EXCEEDED (bare, or as the cause of the client's ServiceError), or the client's
  // own connection errors.
  return (
    [e, e?.cause].some((c) => c?.code === 14 || c?.code === 4) ||
    /ECONNREFUSED|UNAVAILABLE|connect|Connection/i.test(String(e?.message ?? ''))
  );
}

/**
 * A query no worker answered (the worker crashed or is restarting): FAILED_PRECONDITION "no poller seen" when
 * one polled recently, DEADLINE_EXCEEDED when none does; both arrive as the cause of the client's ServiceError.
 */
function isNoWorker(err: unknown): boolean {
  const e = err as GrpcLike;
  const c = e?.cause;
  return (
    /query/i.test(String(e?.message ?? '')) &&
    ((c?.code === 9 && /no poller seen/i.test(String(c.message ?? ''))) || c?.code === 4)
  );
}

/** Maps any thrown value to {status, code, message, details}. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof StrataError) return new HttpError(httpStatusOf(err.code), err.code, err.message, err.details);
  if (err instanceof WorkflowNotFoundError) return notFound('no such run');
  if (err instanceof WorkflowExecutionAlreadyStartedError) return conflict('a run with this id already exists');
  const e = err as { type?: string; status?: number; expose?: boolean; message?: string };
  // body-parser errors: malformed JSON and oversized bodies are the client's problem, never a 5xx.
  if (e?.type === 'entity.too.large')
    return new HttpError(413, ErrorCode.PAYLOAD_TOO_LARGE, 'request body is too large');
  if (e?.type === 'entity.parse.failed') return badRequest(`request body is not valid JSON: ${e.message}`);
  if (e?.status && e.status >= 400 && e.status < 500 && e.expose)
    return new HttpError(e.status, ErrorCode.VALIDATION_FAILED, e.message ?? 'bad request');
  // The run is intact, just not observable until a worker polls again.
  if (isNoWorker(err))
    return new HttpError(
      503,
      ErrorCode.UNAVAILABLE,
      'no worker answered the query (is one running?); try again shortly',
    );
  if (isUnavailable(err))
    return new HttpError(503, ErrorCode.UNAVAILABLE, 'Temporal is unreachable; try again shortly');
  return new HttpError(500, ErrorCode.INTERNAL, 'internal error');
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const h = toHttpError(err);
  if (h.status >= 500)
    (req as { log?: { error: (o: unknown, m: string) => void } }).log?.error({ err }, 'request failed');
  if (h.allow) res.setHeader('Allow', h.allow.join(', '));
  const body: ErrorEnvelope = {
    error: { code: h.code, message: h.message, ...(h.details !== undefined ? { details: h.details } : {}) },
  };
  res.status(h.status).json(body);
};
