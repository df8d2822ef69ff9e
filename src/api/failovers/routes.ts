/**
 * /api/v1/failovers: start (planned, emergency, dry run), list, read, approve, reject; and
 * /api/v1/failover-groups/:group/monitor: start, stop and read a group's health monitor.
 */
import { Router } from 'express';
import type { RouteRegistry } from '../routes';
import type { FailoverService } from './failover-service';
import {
  approveFailoverBody,
  createdFailoverSchema,
  createFailoverBody,
  failoverIdParams,
  failoverListSchema,
  failoverSchema,
  groupParams,
  listFailoversQuery,
  monitorSchema,
  monitorStopSchema,
  rejectFailoverBody,
} from './schemas';

const MOUNT = '/api/v1/failovers';
const GROUPS_MOUNT = '/api/v1/failover-groups';
const tags = ['failovers'];
const unknownGroup = { 400: { description: 'invalid request or unknown group' } };

export function failoverLinks(id: string): Record<string, string> {
  const base = `${MOUNT}/${id}`;
  return { self: base, approve: `${base}/approve`, reject: `${base}/reject` };
}

export function failoversRouter(
  registry: RouteRegistry,
  failovers: FailoverService,
  /** Configured group names, for the document and validation; empty: any well-formed name (the service refuses unknown ones). */
  groups: string[] = [],
): { mount: string; router: Router } {
  const router = Router();

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/',
      summary: 'Start a failover of a group (six stages; approval per the group policy)',
      tags,
      roles: ['deployer'],
      body: createFailoverBody(groups),
      responses: {
        202: { description: 'failover accepted', schema: createdFailoverSchema },
        409: { description: 'a failover of this group is in progress' },
        ...unknownGroup,
      },
    },
    async (req, res) => {
      const { id, status } = await failovers.start(req.body, req.principal!);
      res.status(202).json({ id, status, group: req.body.group, links: failoverLinks(id) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/',
      summary: 'List failovers, newest first (visibility query)',
      tags,
      roles: ['viewer'],
      query: listFailoversQuery,
      responses: { 200: { description: 'failovers', schema: failoverListSchema } },
    },
    async (req, res) => {
      res.json({ items: await failovers.list(req.parsedQuery) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:id',
      summary: 'A failover: stages with timings, RTO/RPO, compensations, events',
      tags,
      roles: ['viewer'],
      params: failoverIdParams,
      responses: {
        200: { description: 'the failover', schema: failoverSchema },
        404: { description: 'no such failover' },
      },
    },
    async (req, res) => {
      res.json(await failovers.get(req.parsedParams.id));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/approve',
      summary: 'Approve a failover awaiting approval (Temporal Update with a validator)',
      tags,
      roles: ['approver'],
      params: failoverIdParams,
      body: approveFailoverBody,
      responses: {
        200: { description: 'failover after the approval', schema: failoverSchema },
        403: { description: 'not allowed (role)' },
        409: { description: 'not awaiting approval, expired, or already approved by this person' },
      },
    },
    async (req, res) => {
      res.json(await failovers.approve(req.parsedParams.id, req.principal!, req.body));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/reject',
      summary: 'Reject a failover awaiting approval',
      tags,
      roles: ['approver'],
      params: failoverIdParams,
      body: rejectFailoverBody,
      responses: {
        200: { description: 'failover after the rejection', schema: failoverSchema },
        403: { description: 'not allowed (role)' },
        409: { description: 'not awaiting approval' },
      },
    },
    async (req, res) => {
      await failovers.reject(req.parsedParams.id, req.principal!, req.body);
      res.json(await settle(failovers, req.parsedParams.id, ['rejected']));
    },
  );

  return { mount: MOUNT, router };
}

export function failoverGroupsRouter(
  registry: RouteRegistry,
  failovers: FailoverService,
  /** Configured group names, for the document and validation; empty: any well-formed name (the service refuses unknown ones). */
  groups: string[] = [],
): { mount: string; router: Router } {
  const router = Router();
  const monitor = { tags, params: groupParams(groups) };

  registry.add(
    router,
    GROUPS_MOUNT,
    {
      method: 'get',
      path: '/:group/monitor',
      summary: "A group's health monitor: probes, consecutive failures, failovers it started",
      ...monitor,
      roles: ['viewer'],
      responses: { 200: { description: 'monitor', schema: monitorSchema }, ...unknownGroup },
    },
    async (req, res) => {
      res.json(await failovers.monitor(req.parsedParams.group));
    },
  );

  registry.add(
    router,
    GROUPS_MOUNT,
    {
      method: 'post',
      path: '/:group/monitor',
      summary: "Start a group's health monitor (idempotent)",
      ...monitor,
      roles: ['deployer'],
      responses: { 202: { description: 'monitor running', schema: monitorSchema }, ...unknownGroup },
    },
    async (req, res) => {
      await failovers.startMonitor(req.parsedParams.group);
      res.status(202).json(await failovers.monitor(req.parsedParams.group));
    },
  );

  registry.add(
    router,
    GROUPS_MOUNT,
    {
      method: 'delete',
      path: '/:group/monitor',
      summary: "Stop a group's health monitor",
      ...monitor,
      roles: ['deployer'],
      responses: {
        202: { description: 'stop requested', schema: monitorStopSchema },
        404: { description: 'no monitor runs' },
        ...unknownGroup,
      },
    },
    async (req, res) => {
      await failovers.stopMonitor(req.parsedParams.group, req.principal!);
      res.status(202).json({ group: req.parsedParams.group, stopRequested: true });
    },
  );

  return { mount: GROUPS_MOUNT, router };
}

/** After a decision the workflow finishes on its own; wait briefly so the response shows the outcome. */
async function settle(failovers: FailoverService, id: string, statuses: string[], ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const f = await failovers.get(id);
    if (statuses.includes(f.status) || Date.now() > deadline) return f;
    await new Promise((r) => setTimeout(r, 100));
  }
}
