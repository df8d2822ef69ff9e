/** /api/v1/rollouts: start a progressive rollout, read it, and promote, pause, resume or abort it. */
import { Router } from 'express';
import { ROLLOUT_ACTION_ROLES, type RolloutAction } from '../../contracts/rollout';
import type { Role } from '../../shared/config';
import type { RouteRegistry } from '../routes';
import type { RolloutService } from './rollout-service';
import { createdRolloutSchema, createRolloutBody, rolloutActionBody, rolloutIdParams, rolloutSchema } from './schemas';

const MOUNT = '/api/v1/rollouts';
const tags = ['rollouts'];
const ACTIONS: Record<RolloutAction, string> = {
  promote: 'Promote: skip every remaining pause (analyses still run) and accept a manual gate',
  pause: 'Pause: hold the current weight until resumed',
  resume: 'Resume a paused rollout (re-measures an inconclusive analysis)',
  abort: 'Abort: all traffic back to stable, the new version scaled down; answers once rolled back',
};

export function rolloutLinks(id: string): Record<string, string> {
  const base = `${MOUNT}/${id}`;
  return { self: base, ...Object.fromEntries(Object.keys(ACTIONS).map((a) => [a, `${base}/${a}`])) };
}

export function rolloutsRouter(registry: RouteRegistry, rollouts: RolloutService): { mount: string; router: Router } {
  const router = Router();

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/',
      summary: 'Start a progressive rollout (canary, blue-green or rolling) of a new version beside stable',
      tags,
      roles: ['deployer'],
      body: createRolloutBody,
      responses: {
        202: { description: 'rollout started', schema: createdRolloutSchema },
        200: { description: 'the rollout this idempotency key already started', schema: createdRolloutSchema },
      },
    },
    async (req, res) => {
      const { id, created } = await rollouts.start(req.body, req.principal!);
      res.status(created ? 202 : 200).json({ id, created, links: rolloutLinks(id) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:id',
      summary: 'A rollout: current step and weight, every step with its times and analysis, who did what',
      tags,
      roles: ['viewer'],
      params: rolloutIdParams,
      responses: {
        200: { description: 'the rollout', schema: rolloutSchema },
        404: { description: 'no such rollout' },
      },
    },
    async (req, res) => {
      res.json(await rollouts.get(req.parsedParams.id));
    },
  );

  for (const [action, summary] of Object.entries(ACTIONS) as [RolloutAction, string][]) {
    registry.add(
      router,
      MOUNT,
      {
        method: 'post',
        path: `/:id/${action}`,
        summary: `${summary} (Temporal Update with a validator)`,
        tags,
        roles: ROLLOUT_ACTION_ROLES[action] as Role[],
        params: rolloutIdParams,
        body: rolloutActionBody,
        responses: {
          200: { description: `the rollout after the ${action}`, schema: rolloutSchema },
          404: { description: 'no such rollout' },
          409: { description: 'the rollout is finished, already paused, or not paused' },
        },
      },
      async (req, res) => {
        res.json(await rollouts.act(req.parsedParams.id, action, req.principal!, req.body));
      },
    );
  }

  return { mount: MOUNT, router };
}
