/** /health (process alive) and /ready (Temporal reachable and a worker polling the task queue). */
import type { TemporalGateway } from '../../client';
import { Router } from 'express';
import { z } from 'zod';
import type { RouteRegistry } from '../routes';

const readySchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  ready: z.boolean(),
  temporal: z.boolean(),
  workers: z.number(),
  reason: z.string().optional(),
});

export function healthRouter(registry: RouteRegistry, gateway: Pick<TemporalGateway, 'readiness'>): { mount: string; router: Router } {
  const router = Router();
  registry.add(router, '', { method: 'get', path: '/health', summary: 'Process is alive', tags: ['health'], responses: { 200: { description: 'ok', schema: z.object({ status: z.literal('ok') }) } } }, (_req, res) => {
    res.json({ status: 'ok' });
  });
  registry.add(router, '', { method: 'get', path: '/ready', summary: 'Temporal reachable and a worker polling', tags: ['health'], temporal: false, responses: { 200: { description: 'ready', schema: readySchema }, 503: { description: 'not ready (the body says why)', schema: readySchema } } }, async (_req, res) => {
    const r = await gateway.readiness();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'unavailable', ...r });
  });
  return { mount: '', router };
}
