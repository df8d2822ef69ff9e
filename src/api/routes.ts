/**
 * Route definitions that serve twice: as express handlers behind zod validation, and as the OpenAPI document.
 * Validation replaces req.body/params/query with the parsed values, so handlers never re-parse.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { Role } from '../shared/config';
import { formatIssues } from '../shared/config';
import { ErrorCode } from '../shared/errors';
import { requireRole } from './auth';
import { HttpError } from './http-errors';

type Method = 'get' | 'post' | 'put' | 'delete';

export interface RouteSpec<B extends z.ZodType, P extends z.ZodType, Q extends z.ZodType> {
  method: Method;
  /** Express path (`/deployments/:id`), relative to the router's mount point. */
  path: string;
  summary: string;
  tags?: string[];
  roles?: Role[];
  body?: B;
  params?: P;
  query?: Q;
  /** Status → response schema, for the document. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

export interface ParsedRequest<B, P, Q> extends Request {
  body: B;
  parsedParams: P;
  parsedQuery: Q;
}

export interface DocumentedRoute {
  mount: string;
  spec: RouteSpec<z.ZodType, z.ZodType, z.ZodType>;
}

/** Collects routes for /openapi.json as they are registered. */
export class RouteRegistry {
  readonly routes: DocumentedRoute[] = [];

  /** Registers a validated, role-checked handler on `router` mounted at `mount`. */
  add<B extends z.ZodType = z.ZodUnknown, P extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown>(
    router: Router,
    mount: string,
    spec: RouteSpec<B, P, Q>,
    handler: (req: ParsedRequest<z.infer<B>, z.infer<P>, z.infer<Q>>, res: Response) => Promise<void> | void,
  ): void {
    this.routes.push({ mount, spec: spec as unknown as RouteSpec<z.ZodType, z.ZodType, z.ZodType> });
    const chain: RequestHandler[] = [];
    if (spec.roles?.length) chain.push(requireRole(...spec.roles));
    chain.push(validate(spec));
    chain.push((req, res) => handler(req as ParsedRequest<z.infer<B>, z.infer<P>, z.infer<Q>>, res));
    router[spec.method](spec.path, ...chain);
  }
}

function check<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const issues = formatIssues(r.error.issues).map((l) => `${where}.${l}`);
    throw new HttpError(400, ErrorCode.VALIDATION_FAILED, `invalid request: ${issues.join('; ')}`, {
      issues: r.error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message })),
    });
  }
  return r.data;
}

function validate(spec: RouteSpec<z.ZodType, z.ZodType, z.ZodType>): RequestHandler {
  return (req, _res, next) => {
    try {
      const parsed = req as ParsedRequest<unknown, unknown, unknown>;
      if (spec.body) parsed.body = check(spec.body, req.body, 'body');
      parsed.parsedParams = check(spec.params, req.params, 'params');
      parsed.parsedQuery = check(spec.query, req.query, 'query');
      next();
    } catch (err) {
      next(err);
    }
  };
}

function toOpenApiPath(p: string): string {
  const trimmed = p.length > 1 ? p.replace(/\/$/, '') : p;
  return trimmed.replace(/:([A-Za-z_]+)/g, '{$1}');
}

function jsonSchema(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any', io: 'input' });
}

/** OpenAPI 3 document built from the same zod schemas the routes validate with. */
export function openApiDocument(registry: RouteRegistry, info: { title: string; version: string }): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { mount, spec } of registry.routes) {
    const p = toOpenApiPath(`${mount}${spec.path}`);
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', spec.params], ['query', spec.query]] as const) {
      if (!schema || !(schema instanceof z.ZodObject)) continue;
      for (const [name, s] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        parameters.push({ name, in: where, required: where === 'path' || !s.safeParse(undefined).success, schema: jsonSchema(s) });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(spec.responses)) {
      responses[status] = r.schema ? { description: r.description, content: { 'application/json': { schema: jsonSchema(r.schema) } } } : { description: r.description };
    }
    paths[p] ??= {};
    paths[p][spec.method] = {
      summary: spec.summary,
      tags: spec.tags,
      ...(spec.roles ? { 'x-strata-roles': spec.roles } : {}),
      ...(mount.startsWith('/api/') ? { security: [{ bearer: [] }] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
