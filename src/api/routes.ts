/**
 * Route definitions that serve twice: as express handlers behind zod validation, and as the OpenAPI document.
 * Validation replaces req.body/params/query with the parsed values, so handlers never re-parse. The statuses
 * every route shares (401, 403, 400, 413, 404, 503) follow from its declaration, so a new route documents
 * them without saying so; a route lists only its success responses and its own refusals (409, a special 404).
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { Role } from '../shared/config';
import { formatIssues } from '../shared/config';
import { ErrorCode } from '../shared/errors';
import { requireRole } from './auth';
import { errorEnvelopeSchema, HttpError, type ErrorEnvelope } from './http-errors';

type Method = 'get' | 'post' | 'put' | 'delete';

/** One documented response: a success carries its body schema; an error status the shared envelope, unless it names its own. */
export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
}

type Responses = Record<number, ResponseDoc>;

/** The bodies a handler may send: what its 2xx responses declare, or the error envelope. */
type ResponseBody<R extends Responses> =
  | { [S in keyof R]: R[S] extends { schema: infer Z extends z.ZodType } ? z.input<Z> : never }[keyof R]
  | ErrorEnvelope;

export interface RouteSpec<
  B extends z.ZodType,
  P extends z.ZodType,
  Q extends z.ZodType,
  R extends Responses = Responses,
> {
  method: Method;
  /** Express path (`/deployments/:id`), relative to the router's mount point. */
  path: string;
  summary: string;
  tags?: string[];
  roles?: Role[];
  body?: B;
  /**
   * The body as the document shows it, when `check` narrows `body` further from data read at request time (each
   * stack's declared variables). Built from the same schemas `check` validates with.
   */
  documentedBody?: () => Promise<z.ZodType>;
  params?: P;
  query?: Q;
  /**
   * Checks that need I/O (a stack's declared variables), run after the schemas and before the handler; throw an
   * HttpError (400 naming the field) to refuse. Nothing the handler would start has started yet.
   */
  check?: (req: ParsedRequest<z.infer<B>, z.infer<P>, z.infer<Q>>) => Promise<void>;
  /** The handler calls Temporal, so an unreachable server is a 503. Default: true under /api. */
  temporal?: boolean;
  /** Success responses with their schemas, and the route's own error statuses with what they mean. */
  responses: R;
}

export interface ParsedRequest<B, P, Q> extends Request {
  body: B;
  parsedParams: P;
  parsedQuery: Q;
}

export interface DocumentedRoute {
  mount: string;
  spec: RouteSpec<z.ZodType, z.ZodType, z.ZodType>;
  /** Matches a request path (without query) against this route's express path. */
  pattern: RegExp;
}

/** Collects routes for /openapi.json as they are registered. */
export class RouteRegistry {
  readonly routes: DocumentedRoute[] = [];

  /** Registers a validated, role-checked handler on `router` mounted at `mount`. */
  add<
    B extends z.ZodType = z.ZodUnknown,
    P extends z.ZodType = z.ZodUnknown,
    Q extends z.ZodType = z.ZodUnknown,
    R extends Responses = Responses,
  >(
    router: Router,
    mount: string,
    spec: RouteSpec<B, P, Q, R>,
    handler: (
      req: ParsedRequest<z.infer<B>, z.infer<P>, z.infer<Q>>,
      res: Response<ResponseBody<R>>,
    ) => Promise<void> | void,
  ): void {
    for (const [status, r] of Object.entries(spec.responses as Responses)) {
      // A success without a schema would be a hole in the document; fail at start-up, not in a client.
      if (Number(status) < 400 && !r.schema)
        throw new Error(`${spec.method.toUpperCase()} ${mount}${spec.path}: response ${status} has no schema`);
    }
    const full = `${mount}${spec.path}`;
    this.routes.push({
      mount,
      spec: spec as unknown as RouteSpec<z.ZodType, z.ZodType, z.ZodType>,
      pattern: pathPattern(full),
    });
    const chain: RequestHandler[] = [];
    if (spec.roles?.length) chain.push(requireRole(...spec.roles));
    chain.push(validate(spec as unknown as RouteSpec<z.ZodType, z.ZodType, z.ZodType>));
    chain.push((req, res) =>
      handler(req as ParsedRequest<z.infer<B>, z.infer<P>, z.infer<Q>>, res as Response<ResponseBody<R>>),
    );
    router[spec.method](spec.path, ...chain);
  }

  /** The documented routes whose path matches `path` (any method): for 405s and for metrics labels. */
  match(path: string): DocumentedRoute[] {
    return this.routes.filter((r) => r.pattern.test(path));
  }
}

function pathPattern(expressPath: string): RegExp {
  const trimmed = expressPath.length > 1 ? expressPath.replace(/\/$/, '') : expressPath;
  const escaped = trimmed
    .split(/(:[A-Za-z_]+)/)
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${escaped.join('')}/?$`);
}

function check<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw validationError(r.error.issues, where);
  return r.data;
}

/** The 400 for zod issues: the message names every bad field as `<where>.<path>`, details list them. */
export function validationError(issues: readonly z.core.$ZodIssue[], where: string): HttpError {
  const lines = formatIssues(issues).map((l) => `${where}.${l}`);
  return new HttpError(400, ErrorCode.VALIDATION_FAILED, `invalid request: ${lines.join('; ')}`, {
    issues: issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message })),
  });
}

function validate(spec: RouteSpec<z.ZodType, z.ZodType, z.ZodType>): RequestHandler {
  return (req, _res, next) => {
    try {
      const parsed = req as ParsedRequest<unknown, unknown, unknown>;
      if (spec.body) parsed.body = check(spec.body, req.body, 'body');
      parsed.parsedParams = check(spec.params, req.params, 'params');
      parsed.parsedQuery = check(spec.query, req.query, 'query');
    } catch (err) {
      next(err);
      return;
    }
    if (!spec.check) return next();
    spec.check(req as ParsedRequest<unknown, unknown, unknown>).then(() => next(), next);
  };
}

function toOpenApiPath(p: string): string {
  const trimmed = p.length > 1 ? p.replace(/\/$/, '') : p;
  return trimmed.replace(/:([A-Za-z_]+)/g, '{$1}');
}

/** The OpenAPI path of a route (`/api/v1/deployments/{id}`). */
export function openApiPathOf(route: Pick<DocumentedRoute, 'mount' | 'spec'>): string {
  return toOpenApiPath(`${route.mount}${route.spec.path}`);
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): unknown {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any', io });
}

function hasParams(schema: z.ZodType | undefined): boolean {
  return schema instanceof z.ZodObject && Object.keys(schema.shape).length > 0;
}

/**
 * Every status the route can answer, with what it means: its declared responses, plus what its declaration
 * implies. A bearer token under /api (401), roles (403), anything to validate (400), a body (413 over the size
 * limit), path parameters that may name nothing (404), mutating routes under /api (429, per-caller rate limit),
 * Temporal behind the handler (503).
 */
export function documentedStatuses(route: Pick<DocumentedRoute, 'mount' | 'spec'>): Record<number, ResponseDoc> {
  const { mount, spec } = route;
  const api = mount.startsWith('/api/');
  const implied: Record<number, ResponseDoc> = {};
  if (spec.body || hasParams(spec.params) || hasParams(spec.query) || spec.check)
    implied[400] = { description: 'invalid request; the message and details name each bad field' };
  if (api || spec.roles?.length) implied[401] = { description: 'missing or unknown bearer token' };
  if (spec.roles?.length) implied[403] = { description: `the caller lacks the role (${spec.roles.join(', ')})` };
  if (hasParams(spec.params)) implied[404] = { description: 'nothing with that name or id' };
  if (spec.body) implied[413] = { description: 'request body over the size limit' };
  if (api && spec.method !== 'get')
    implied[429] = { description: 'the caller sent too many changes this minute; Retry-After says when to try again' };
  if (spec.temporal ?? api)
    implied[503] = { description: 'Temporal is unreachable or no worker answered; try again shortly' };
  return { ...implied, ...(spec.responses as Responses) };
}

function responseObject(status: number, r: ResponseDoc): unknown {
  if (!r.schema)
    return {
      description: r.description,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  return {
    description: r.description,
    content: { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema!, 'output') } },
  };
}

/** OpenAPI 3 document built from the same zod schemas the routes validate with. */
export async function openApiDocument(
  registry: RouteRegistry,
  info: { title: string; version: string },
): Promise<unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of registry.routes) {
    const { mount, spec } = route;
    const p = openApiPathOf(route);
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', spec.params],
      ['query', spec.query],
    ] as const) {
      if (!schema || !(schema instanceof z.ZodObject)) continue;
      for (const [name, s] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || !s.safeParse(undefined).success,
          schema: jsonSchema(s, 'input'),
        });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(documentedStatuses(route)))
      responses[status] = responseObject(Number(status), r);
    const body = spec.documentedBody ? await spec.documentedBody() : spec.body;
    paths[p] ??= {};
    paths[p][spec.method] = {
      operationId: operationId(spec.method, p),
      summary: spec.summary,
      tags: spec.tags,
      ...(spec.roles ? { 'x-strata-roles': spec.roles } : {}),
      ...(mount.startsWith('/api/') ? { security: [{ bearer: [] }] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(body
        ? {
            requestBody: {
              required: !body.safeParse(undefined).success,
              content: { 'application/json': { schema: jsonSchema(body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(errorEnvelopeSchema, 'output') },
    },
    paths,
  };
}

function operationId(method: string, p: string): string {
  const words = p
    .replace(/^\/api\/v1/, '')
    .split('/')
    .filter(Boolean)
    .map((w) => w.replace(/[{}]/g, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase()));
  return [method, ...words].map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w)).join('');
}
