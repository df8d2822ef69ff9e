/** /api/v1/deployments: start, list, read, approve, reject, cancel, plan and logs (JSON or live SSE). */
import { Router } from 'express';
import { z } from 'zod';
import type { StrataConfig } from '../../shared/config';
import { hasRole } from '../auth';
import { badRequest, forbidden, notFound } from '../http-errors';
import { validationError, type RouteRegistry } from '../routes';
import type { RunService } from './run-service';
import {
  approveBody,
  cancelledRunSchema,
  createDeploymentBody,
  createdRunSchema,
  deploymentBodies,
  deploymentListSchema,
  deploymentSchema,
  idParams,
  listDeploymentsQuery,
  getDeploymentQuery,
  logsSchema,
  overridePolicyBody,
  planSchema,
  rejectBody,
} from './schemas';

const MOUNT = '/api/v1/deployments';
const tags = ['deployments'];
const decision = {
  409: { description: 'not awaiting approval, plan hash differs, expired, or already approved by this person' },
  403: { description: 'not allowed: role, or four-eyes (the requester cannot approve their own run)' },
};

/** Links every run response carries; rollback/destroy runs use the same routes. */
export function runLinks(id: string): Record<string, string> {
  const base = `${MOUNT}/${id}`;
  return {
    self: base,
    plan: `${base}/plan`,
    logs: `${base}/logs`,
    approve: `${base}/approve`,
    reject: `${base}/reject`,
    cancel: `${base}/cancel`,
  };
}

export function deploymentsRouter(
  registry: RouteRegistry,
  runs: RunService,
  config: StrataConfig,
): { mount: string; router: Router } {
  const router = Router();
  const bodies = () => deploymentBodies(config);

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/',
      summary: 'Start a deployment (plan → approval → apply → verify)',
      tags,
      roles: ['deployer'],
      body: createDeploymentBody,
      // The stack's own declarations: unknown variable names and wrong types are refused here, before any run starts.
      documentedBody: async () => z.union([...(await bodies()).values()] as [z.ZodType, ...z.ZodType[]]),
      check: async (req) => {
        const schema = (await bodies()).get(req.body.stack);
        if (!schema)
          throw badRequest(`unknown stack "${req.body.stack}" (known: ${Object.keys(config.stacks).join(', ')})`);
        const r = schema.safeParse(req.body);
        if (!r.success) throw validationError(r.error.issues, 'body');
      },
      responses: { 202: { description: 'run accepted', schema: createdRunSchema } },
    },
    async (req, res) => {
      // The 202 answers from what the start itself knows: no worker query on the request path (a burst of
      // starts would otherwise wait on, and fail with, busy workers).
      const { id, status } = await runs.start({ kind: 'deploy', ...req.body }, req.principal!);
      res
        .status(202)
        .json({ id, status, stack: req.body.stack, environment: req.body.environment, links: runLinks(id) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/',
      summary: 'List runs, newest first (visibility query)',
      tags,
      roles: ['viewer'],
      query: listDeploymentsQuery,
      responses: { 200: { description: 'runs', schema: deploymentListSchema } },
    },
    async (req, res) => {
      res.json({ items: await runs.list(req.parsedQuery) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:id',
      summary: 'A run; with ?wait=S, answered once the run has ended or S seconds (at most 60) have passed',
      tags,
      roles: ['viewer'],
      params: idParams,
      query: getDeploymentQuery,
      responses: { 200: { description: 'the run', schema: deploymentSchema }, 404: { description: 'no such run' } },
    },
    async (req, res) => {
      const wait = req.parsedQuery.wait;
      res.json(await runs.get(req.parsedParams.id, wait ? { waitMs: wait * 1000 } : {}));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:id/plan',
      summary: "A run's plan",
      tags,
      roles: ['viewer'],
      params: idParams,
      responses: { 200: { description: 'plan', schema: planSchema }, 404: { description: 'no plan yet' } },
    },
    async (req, res) => {
      const d = await runs.get(req.parsedParams.id);
      if (!d.plan) throw notFound(`run ${d.id} has no plan yet (status ${d.status})`);
      res.json(d.plan);
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:id/logs',
      summary: "A run's log; Accept: text/event-stream streams it live until the run ends",
      tags,
      roles: ['viewer'],
      params: idParams,
      responses: {
        200: {
          description: 'log lines (JSON), or server-sent events of the same items with Accept: text/event-stream',
          schema: logsSchema,
        },
      },
    },
    async (req, res) => {
      const id = req.parsedParams.id;
      if (!(req.headers.accept ?? '').includes('text/event-stream')) {
        const { items } = await runs.logs(id);
        res.json({ items });
        return;
      }
      await runs.get(id); // 404 before the stream starts
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
      });
      let ev = 0;
      let line = 0;
      let closed = false;
      req.on('close', () => (closed = true));
      while (!closed) {
        const batch = await runs.logs(id, ev, line);
        ev = batch.nextEvents;
        line = batch.nextLog;
        for (const item of batch.items) res.write(`data: ${JSON.stringify(item)}\n\n`);
        if (batch.done) {
          res.write(`event: end\ndata: {}\n\n`);
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      res.end();
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/approve',
      summary: 'Approve the plan awaiting approval (Temporal Update with a validator)',
      tags,
      roles: ['approver'],
      params: idParams,
      body: approveBody,
      responses: { 200: { description: 'run after the approval', schema: deploymentSchema }, ...decision },
    },
    async (req, res) => {
      res.json(await runs.approve(req.parsedParams.id, req.principal!, req.body));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/override-policy',
      summary:
        "Override the plan's policy denial (admin, where the environment allows it): a recorded decision with a reason; approvals still follow",
      tags,
      roles: ['admin'],
      params: idParams,
      body: overridePolicyBody,
      responses: {
        200: { description: 'run after the override', schema: deploymentSchema },
        403: { description: 'not an admin, or the environment does not allow overrides' },
        409: { description: 'no policy denies the plan, already overridden, or the run is closed' },
      },
    },
    async (req, res) => {
      res.json(await runs.overridePolicy(req.parsedParams.id, req.principal!, req.body));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/reject',
      summary: 'Reject the plan awaiting approval',
      tags,
      roles: ['approver'],
      params: idParams,
      body: rejectBody,
      responses: {
        200: { description: 'run after the rejection', schema: deploymentSchema },
        403: { description: 'not allowed (role)' },
        409: { description: 'not awaiting approval' },
      },
    },
    async (req, res) => {
      await runs.reject(req.parsedParams.id, req.principal!, req.body);
      res.json(await waitForStatus(runs, req.parsedParams.id, ['rejected']));
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:id/cancel',
      summary: 'Cancel a run; a running apply is interrupted cleanly and the lock released',
      tags,
      roles: ['deployer'],
      params: idParams,
      responses: {
        202: { description: 'cancellation requested', schema: cancelledRunSchema },
        403: { description: 'deployers may cancel only their own runs' },
      },
    },
    async (req, res) => {
      const d = await runs.get(req.parsedParams.id);
      const p = req.principal!;
      if (!hasRole(p, 'admin', d.environment) && d.requestedBy !== p.subject)
        throw forbidden(`${p.subject} may cancel only their own runs (requested by ${d.requestedBy})`);
      await runs.cancel(d.id);
      res.status(202).json({ id: d.id, status: d.status, cancelRequested: true });
    },
  );

  return { mount: MOUNT, router };
}

/** After a decision the workflow finishes a step on its own; give it a moment so the response shows the outcome. */
async function waitForStatus(runs: RunService, id: string, statuses: string[], ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const d = await runs.get(id);
    if (statuses.includes(d.status) || Date.now() > deadline) return d;
    await new Promise((r) => setTimeout(r, 100));
  }
}
