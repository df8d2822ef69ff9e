/** /health (process alive) and /ready (Temporal reachable and a worker polling the task queue). */
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import type { RouteRegistry } from '../routes';

/** Answers whether the deployment can make progress right now. */
export async function readiness(client: Client, namespace: string, taskQueue: string): Promise<{ ready: boolean; temporal: boolean; workers: number; reason?: string }> {
  try {
    const res = await client.connection.withDeadline(Date.now() + 2000, () =>
      client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue, kind: 1 }, taskQueueType: 1 }),
    );
    // Pollers linger in this list for a while after a worker stops; count only recent ones.
    const cutoff = Date.now() - 70_000;
    const workers = (res.pollers ?? []).filter((p) => {
      const t = p.lastAccessTime;
      const ms = t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : Date.now();
      return ms >= cutoff;
    }).length;
    return workers > 0 ? { ready: true, temporal: true, workers } : { ready: false, temporal: true, workers, reason: `no worker polls task queue "${taskQueue}"` };
  } catch (err) {
    return { ready: false, temporal: false, workers: 0, reason: `Temporal unreachable: ${(err as Error).message}` };
  }
}

const readySchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  ready: z.boolean(),
  temporal: z.boolean(),
  workers: z.number(),
  reason: z.string().optional(),
});

export function healthRouter(registry: RouteRegistry, client: Client, namespace: string, taskQueue: string): { mount: string; router: Router } {
  const router = Router();
  registry.add(router, '', { method: 'get', path: '/health', summary: 'Process is alive', tags: ['health'], responses: { 200: { description: 'ok', schema: z.object({ status: z.literal('ok') }) } } }, (_req, res) => {
    res.json({ status: 'ok' });
  });
  registry.add(router, '', { method: 'get', path: '/ready', summary: 'Temporal reachable and a worker polling', tags: ['health'], temporal: false, responses: { 200: { description: 'ready', schema: readySchema }, 503: { description: 'not ready (the body says why)', schema: readySchema } } }, async (_req, res) => {
    const r = await readiness(client, namespace, taskQueue);
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'unavailable', ...r });
  });
  return { mount: '', router };
}
