/**
 * Compares what an app answered with what its /openapi.json promises. The app's own request counter
 * (`strata_http_requests_total{method, route, status}`, labelled with the route's express path even for requests
 * refused before routing) says which statuses each operation returned; every one must be documented.
 */
import request from 'supertest';
import type { Express } from 'express';

export interface Observed {
  method: string;
  path: string;
  status: string;
}

interface OpenApiDoc {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
  >;
}

const toOpenApi = (route: string) =>
  (route.length > 1 ? route.replace(/\/$/, '') : route).replace(/:([A-Za-z_]+)/g, '{$1}');

/** Every (operation, status) the app has answered so far, per its metrics. */
export async function observedStatuses(app: Express): Promise<Observed[]> {
  const metrics = await request(app).get('/metrics');
  const out: Observed[] = [];
  for (const m of metrics.text.matchAll(
    /^strata_http_requests_total\{method="([A-Z]+)",route="([^"]*)",status="(\d+)"\} \d+$/gm,
  )) {
    out.push({ method: m[1].toLowerCase(), path: toOpenApi(m[2]), status: m[3] });
  }
  return out;
}

/** Observed answers of documented operations whose status the document does not list (405s and unknown paths are not operations). */
export async function undocumentedStatuses(app: Express): Promise<string[]> {
  const doc = (await request(app).get('/openapi.json')).body as OpenApiDoc;
  return (await observedStatuses(app))
    .filter((o) => doc.paths[o.path]?.[o.method] && o.status !== '405')
    .filter((o) => !doc.paths[o.path][o.method].responses[o.status])
    .map((o) => `${o.method.toUpperCase()} ${o.path} → ${o.status}`);
}
