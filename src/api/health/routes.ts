/** /health (process alive) and /ready (Temporal reachable and a worker polling the task queue, else what is down). */
import fs from 'node:fs';
import { Router } from 'express';
import { z } from 'zod';
import type { TemporalGateway } from '../../client';
import type { RouteRegistry } from '../routes';

const readySchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  ready: z.boolean(),
  temporal: z.boolean(),
  workers: z.number(),
  /** Each process that keeps runs from making progress (`temporal`, `worker`, or what the supervisor reports). */
  down: z.array(z.string()),
  reason: z.string().optional(),
});

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

/** Temporal's answer (through the gateway) merged with the supervisor's: ready only when nothing is down. */
export async function readinessWithSupervisor(
  gateway: Pick<TemporalGateway, 'readiness'>,
): Promise<z.infer<typeof readySchema>> {
  // Read before and after the probe: whatever was down at either moment (a dev server restarted within the
  // probe's deadline would otherwise read as never having been down).
  const before = supervisorDown();
  const r = await gateway.readiness();
  const probed = r.temporal ? (r.workers > 0 ? [] : ['worker']) : ['temporal'];
  const supervised = [...new Set([...before, ...supervisorDown()])];
  const down = [...new Set([...probed, ...supervised])];
  const reasons = [r.reason, ...supervised.map((n) => `${n} is down (the supervisor is restarting it)`)].filter(
    Boolean,
  );
  const ready = down.length === 0;
  return {
    status: ready ? 'ready' : 'unavailable',
    ready,
    temporal: r.temporal,
    workers: r.workers,
    down,
    ...(reasons.length ? { reason: reasons.join('; ') } : {}),
  };
}

export function healthRouter(
  registry: RouteRegistry,
  gateway: Pick<TemporalGateway, 'readiness'>,
): { mount: string; router: Router } {
  const router = Router();
  registry.add(
    router,
    '',
    {
      method: 'get',
      path: '/health',
      summary: 'Process is alive',
      tags: ['health'],
      responses: { 200: { description: 'ok', schema: z.object({ status: z.literal('ok') }) } },
    },
    (_req, res) => {
      res.json({ status: 'ok' });
    },
  );
  registry.add(
    router,
    '',
    {
      method: 'get',
      path: '/ready',
      summary: 'Temporal reachable and a worker polling (else 503 naming what is down)',
      tags: ['health'],
      temporal: false,
      responses: {
        200: { description: 'ready', schema: readySchema },
        503: { description: 'not ready: `down` names each process, `reason` says why', schema: readySchema },
      },
    },
    async (_req, res) => {
      const r = await readinessWithSupervisor(gateway);
      res.status(r.ready ? 200 : 503).json(r);
    },
  );
  return { mount: '', router };
}
