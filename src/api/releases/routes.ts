/** /api/v1/releases: start (inline or a release file), list, read, approve, reject, cancel. */
import { Router } from 'express';
import { z } from 'zod';
import { hasRole } from '../auth';
import { forbidden } from '../http-errors';
import { validationError, type RouteRegistry } from '../routes';
import type { ReleaseService } from './release-service';
import {
  approveReleaseBody,
  cancelledReleaseSchema,
  createdReleaseSchema,
  createReleaseBody,
  listReleasesQuery,
  overrideReleaseBody,
  rejectReleaseBody,
  releaseIdParams,
  releaseListSchema,
  releaseSchema,
  type CreateReleaseBody,
} from './schemas';

const MOUNT = '/api/v1/releases';
const tags = ['releases'];

/** Links every release response carries. */
export function releaseLinks(id: string): Record<string, string> {
  const base = `${MOUNT}/${id}`;
  return { self: base, approve: `${base}/approve`, reject: `${base}/reject`, cancel: `${base}/cancel` };
}

/** The release routes, registered for /openapi.json as they are mounted. */
export function releasesRouter(registry: RouteRegistry, releases: ReleaseService): { mount: string; router: Router } {
  const router = Router();

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/',
      summary: 'Start a release: several stacks in dependency waves, one approval or one per stack',
      tags,
      roles: ['deployer'],
      // Either shape; the one the body means is picked by `name`, so a refusal names the field, not "no union member".
      body: z.record(z.string(), z.unknown()),
      documentedBody: () => releases.documentedBody(),
      check: async (req) => {
        const body = req.body as Record<string, unknown>;
        const schema = 'name' in body ? createReleaseBody.options[1] : createReleaseBody.options[0];
        const r = schema.safeParse(body);
        if (!r.success) throw validationError(r.error.issues, 'body');
        req.body = r.data as never;
      },
      responses: {
        202: { description: 'release accepted', schema: createdReleaseSchema },
        400: {
          description:
            'invalid definition: unknown environment, stack, variable or output; a stack listed twice; a dependency cycle (named in order)',
        },
      },
    },
    async (req, res) => {
      const { id, waves, environment } = await releases.start(req.body as unknown as CreateReleaseBody, req.principal!);
      const r = await releases.get(id);
      res.status(202).json({ id, status: r.status, environment, waves, links: releaseLinks(id) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/',
      summary: 'List releases, newest first',
      tags,
      roles: ['viewer'],
      query: listReleasesQuery,
      responses: { 200: { description: 'releases', schema: releaseListSchema } },
    },
    async (req, res) => {
      res.json({ items: await releases.list(req.parsedQuery) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:id',
      summary:
        'A release: its graph and waves, each stack’s run, status and plan, release cost, risk, policy and impact',
      tags,
      roles: ['viewer'],
      params: releaseIdParams,
      responses: {
        200: { description: 'the release', schema: releaseSchema },
        404: { description: 'no such release' },
      },
    },
    async (req, res) => {
      res.json(await releases.get(req.parsedParams.id));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/approve',
      summary: 'Approve the whole release (or, with `stack`, that stack’s run)',
      tags,
      roles: ['approver'],
      params: releaseIdParams,
      body: approveReleaseBody,
      responses: {
        200: { description: 'release after the approval', schema: releaseSchema },
        403: { description: 'not allowed: role, or four-eyes (the requester cannot approve their own release)' },
        409: {
          description:
            'not awaiting approval, plan digest differs, expired, already approved by this person, or a policy denies a plan (POLICY_DENIED naming the rule)',
        },
      },
    },
    async (req, res) => {
      res.json(await releases.approve(req.parsedParams.id, req.principal!, req.body));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/reject',
      summary: 'Reject the release (or, with `stack`, that stack’s run)',
      tags,
      roles: ['approver'],
      params: releaseIdParams,
      body: rejectReleaseBody,
      responses: {
        200: { description: 'release after the rejection', schema: releaseSchema },
        403: { description: 'not allowed (role)' },
        409: { description: 'not awaiting approval' },
      },
    },
    async (req, res) => {
      res.json(await releases.reject(req.parsedParams.id, req.principal!, req.body));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/override-policy',
      summary:
        'Override the policy denials of the release’s plans (admin, where the environment allows it), with a reason',
      tags,
      roles: ['admin'],
      params: releaseIdParams,
      body: overrideReleaseBody,
      responses: {
        200: { description: 'release after the override', schema: releaseSchema },
        403: { description: 'not an admin, or the environment does not allow overrides' },
        409: { description: 'no policy denies a plan, already overridden, or the release is closed' },
      },
    },
    async (req, res) => {
      res.json(await releases.overridePolicy(req.parsedParams.id, req.principal!, req.body));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/cancel',
      summary:
        'Cancel a release: running stacks are cancelled cleanly (applies interrupted, locks released), nothing new starts',
      tags,
      roles: ['deployer'],
      params: releaseIdParams,
      responses: {
        202: { description: 'cancellation requested', schema: cancelledReleaseSchema },
        403: { description: 'deployers may cancel only their own releases' },
      },
    },
    async (req, res) => {
      const r = await releases.get(req.parsedParams.id);
      const p = req.principal!;
      if (!hasRole(p, 'admin', r.environment) && r.requestedBy !== p.subject)
        throw forbidden(`${p.subject} may cancel only their own releases (requested by ${r.requestedBy})`);
      await releases.cancel(r.id);
      res.status(202).json({ id: r.id, status: r.status, cancelRequested: true });
    },
  );

  return { mount: MOUNT, router };
}
