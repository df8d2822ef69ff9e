/** /health (process alive) and /ready (Temporal reachable and a worker polling the task queue, else what is down). */
import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import type { RouteRegistry } from '../routes';

/** What a readiness check found; `down` names each process that keeps runs from making progress. */
export interface Readiness {
  ready: boolean;
  temporal: boolean;
  workers: number;
  down: string[];
  reason?: string;
}

/**
 * Processes the supervisor (scripts/start.sh, through STRATA_SUPERVISOR_STATUS) reports as down and waiting to
 * be restarted. It knows at once that a worker died, while Temporal keeps listing the dead worker's poller for
 * about a minute. A file left behind by a supervisor that no longer runs says nothing.
 */
export function supervisorDown(file = process.env.STRATA_SUPERVISOR_STATUS): string[] {
  if (!file) return [];
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: unknown; down?: unknown };
    if (typeof s.pid !== 'number' || !Array.isArray(s.down)) return [];
    process.kill(s.pid, 0);
    return s.down.filter((d): d is string => typeof d === 'string');
  } catch {
    return [];
  }
}

/** Answers whether the deployment can make progress right now, and if not, what is down. */
export async function readiness(client: Client, namespace: string, taskQueue: string): Promise<Readiness> {
  // Read before and after the probe: whatever was down at either moment (a dev server restarted within the
  // probe's deadline would otherwise read as never having been down).
  const before = supervisorDown();
  const result = (r: Omit<Readiness, 'down' | 'ready'>, down: string[]): Readiness => {
    const supervised = [...new Set([...before, ...supervisorDown()])];
    const all = [...new Set([...down, ...supervised])];
    const restarting = supervised.map((n) => `${n} is down (the supervisor is restarting it)`);
    const reasons = [r.reason, ...restarting].filter(Boolean);
    return { ...r, ready: all.length === 0, down: all, ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
  };
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
    return workers > 0
      ? result({ temporal: true, workers }, [])
      : result({ temporal: true, workers, reason: `no worker polls task queue "${taskQueue}"` }, ['worker']);
  } catch (err) {
    const reason = `Temporal unreachable: ${(err as Error).message}`;
    return result({ temporal: false, workers: 0, reason }, ['temporal']);
  }
}

export function healthRouter(registry: RouteRegistry, client: Client, namespace: string, taskQueue: string): { mount: string; router: Router } {
  const router = Router();
  registry.add(router, '', { method: 'get', path: '/health', summary: 'Process is alive', tags: ['health'], responses: { 200: { description: 'ok', schema: z.object({ status: z.literal('ok') }) } } }, (_req, res) => {
    res.json({ status: 'ok' });
  });
  registry.add(router, '', { method: 'get', path: '/ready', summary: 'Temporal reachable and a worker polling', tags: ['health'], responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } } }, async (_req, res) => {
    const r = await readiness(client, namespace, taskQueue);
    // 503 names what is down, e.g. {"status":"unavailable","down":["worker"],...}.
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'unavailable', ...r });
  });
  return { mount: '', router };
}
