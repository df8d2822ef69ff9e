/** /api/v1/stacks: configured stacks, their lock, current state, state history, rollback, destroy, unlock. */
import { Router } from 'express';
import { z } from 'zod';
import type { StrataConfig } from '../../shared/config';
import type { StateStore } from '../../store/state-store';
import { forceUnlockSignal, stackLockWorkflowId } from '../../contracts/lock';
import { runLinks } from '../deployments/routes';
import type { RunService } from '../deployments/run-service';
import { createdRunSchema } from '../deployments/schemas';
import { badRequest, conflict, notFound } from '../http-errors';
import type { RouteRegistry } from '../routes';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { driftReportKey } from '../../store/keys';
import { buildRunInput } from '../../shared/run-input';
import { EnvironmentKey, KindKey, StackKey } from '../../shared/search-attributes';
import type { ArtifactStore } from '../../store/artifact-store';
import { driftScanWorkflowId, type DriftScanInput } from '../../contracts/drift';

const MOUNT = '/api/v1/stacks';
const tags = ['stacks'];
const envParams = z.object({ stack: z.string(), env: z.string() });

const stackListSchema = z.object({
  items: z.array(
    z.object({
      name: z.string(),
      executor: z.string(),
      description: z.string().optional(),
      environments: z.array(z.object({ name: z.string(), currentVersion: z.number().optional(), locked: z.boolean(), lockHolder: z.string().optional(), queued: z.number().optional() })),
    }),
  ),
});
const stateSchema = z.object({ version: z.number(), deploymentId: z.string(), createdAt: z.string(), outputs: z.record(z.string(), z.unknown()), resources: z.array(z.object({ address: z.string(), type: z.string() })) });
const driftSchema = z.object({
  scannedAt: z.string(),
  drifted: z.boolean(),
  version: z.number().optional(),
  remediationId: z.string().optional(),
  resources: z.array(z.object({ address: z.string(), type: z.string(), change: z.enum(['modified', 'deleted', 'added']), severity: z.enum(['low', 'medium', 'high', 'critical']) })),
});
const historySchema = z.object({ items: z.array(z.object({ version: z.number(), deploymentId: z.string(), kind: z.enum(['deploy', 'rollback', 'destroy']), createdAt: z.string(), planHash: z.string(), restoredFrom: z.number().optional() })) });

export interface StacksDeps {
  config: StrataConfig;
  state: StateStore;
  artifacts: ArtifactStore;
  runs: RunService;
  client: Client;
}

export function stacksRouter(registry: RouteRegistry, deps: StacksDeps): { mount: string; router: Router } {
  const { config, state, runs, client, artifacts } = deps;
  const router = Router();

  const known = (stack: string, env: string) => {
    const s = config.stacks[stack];
    if (!s) throw notFound(`unknown stack "${stack}" (known: ${Object.keys(config.stacks).join(', ')})`);
    const envs = s.environments ?? Object.keys(config.environments);
    if (!envs.includes(env)) throw notFound(`stack "${stack}" has no environment "${env}" (known: ${envs.join(', ')})`);
  };

  registry.add(router, MOUNT, { method: 'get', path: '/', summary: 'Configured stacks with their environments, versions and locks', tags, roles: ['viewer'], responses: { 200: { description: 'stacks', schema: stackListSchema } } }, async (_req, res) => {
    const items = await Promise.all(
      Object.entries(config.stacks).map(async ([name, s]) => ({
        name,
        executor: s.executor,
        description: s.description,
        environments: await Promise.all(
          (s.environments ?? Object.keys(config.environments)).map(async (env) => {
            const [latest, lock] = await Promise.all([state.latestVersion(name, env), runs.lockState(name, env).catch(() => undefined)]);
            return {
              name: env,
              currentVersion: latest?.version,
              locked: Boolean(lock?.holder),
              lockHolder: lock?.holder ? lock.holder.workflowId.replace(/^strata-run\//, '') : undefined,
              queued: lock?.queue.length || undefined,
            };
          }),
        ),
      })),
    );
    res.json({ items });
  });

  registry.add(router, MOUNT, { method: 'get', path: '/:stack/environments/:env/state', summary: 'Current state version', tags, roles: ['viewer'], params: envParams, responses: { 200: { description: 'state', schema: stateSchema }, 404: { description: 'never applied' } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const v = await state.latestVersion(stack, env);
    if (!v) throw notFound(`${stack}/${env} has no state yet: nothing has been applied`);
    res.json({ version: v.version, deploymentId: v.deploymentId, kind: v.kind, createdAt: v.createdAt, planHash: v.planHash, outputs: v.outputs, resources: v.resources });
  });

  registry.add(router, MOUNT, { method: 'get', path: '/:stack/environments/:env/state/history', summary: 'State versions, newest first', tags, roles: ['viewer'], params: envParams, query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }), responses: { 200: { description: 'history', schema: historySchema } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const items = await state.listVersions(stack, env, req.parsedQuery.limit);
    res.json({ items: items.map((v) => ({ version: v.version, deploymentId: v.deploymentId, kind: v.kind, createdAt: v.createdAt, planHash: v.planHash, restoredFrom: v.restoredFrom })) });
  });

  registry.add(router, MOUNT, { method: 'post', path: '/:stack/environments/:env/rollback', summary: 'Re-apply the configuration of an earlier state version as a new run', tags, roles: ['deployer'], params: envParams, body: z.strictObject({ targetVersion: z.number().int().min(1), reason: z.string().max(2000).optional(), idempotencyKey: z.string().min(1).max(200).optional() }), responses: { 202: { description: 'rollback run accepted', schema: createdRunSchema }, 404: { description: 'version not retained' }, 409: { description: 'target is the current version' } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const versions = await state.listVersions(stack, env);
    const target = versions.find((v) => v.version === req.body.targetVersion);
    if (!target) {
      throw notFound(
        versions.length
          ? `version ${req.body.targetVersion} of ${stack}/${env} is not retained; versions that exist: ${versions.map((v) => v.version).join(', ')}`
          : `${stack}/${env} has no state versions yet`,
        { versions: versions.map((v) => v.version) },
      );
    }
    if (versions[0]?.version === target.version) throw conflict(`version ${target.version} is already the current version of ${stack}/${env}`);
    if (target.kind === 'destroy') throw badRequest(`version ${target.version} is a destroy; deploy instead to recreate the stack`);
    const { id } = await runs.start({ kind: 'rollback', stack, environment: env, targetVersion: target.version, reason: req.body.reason, idempotencyKey: req.body.idempotencyKey }, req.principal!);
    const d = await runs.get(id);
    res.status(202).json({ id, status: d.status, stack, environment: env, targetVersion: target.version, links: runLinks(id) });
  });

  registry.add(router, MOUNT, { method: 'post', path: '/:stack/environments/:env/destroy', summary: 'Destroy everything the stack manages in the environment (plan -destroy → approval → apply)', tags, roles: ['deployer'], params: envParams, body: z.strictObject({ reason: z.string().max(2000).optional(), idempotencyKey: z.string().min(1).max(200).optional() }), responses: { 202: { description: 'destroy run accepted', schema: createdRunSchema } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const { id } = await runs.start({ kind: 'destroy', stack, environment: env, reason: req.body.reason, idempotencyKey: req.body.idempotencyKey }, req.principal!);
    const d = await runs.get(id);
    res.status(202).json({ id, status: d.status, stack, environment: env, links: runLinks(id) });
  });

  registry.add(router, MOUNT, { method: 'post', path: '/:stack/environments/:env/unlock', summary: 'Force-unlock the stack lock (admin), naming the holder to drop (default: the current one)', tags, roles: ['admin'], params: envParams, body: z.strictObject({ reason: z.string().max(2000).optional(), holder: z.string().min(1).max(300).optional() }).optional(), responses: { 200: { description: 'unlocked' }, 409: { description: 'the lock is held by another run than the one named' } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const body = req.body as { reason?: string; holder?: string } | undefined;
    const lock = await runs.lockState(stack, env);
    const holder = lock?.holder?.workflowId;
    const holderRun = holder?.replace(/^strata-run\//, '');
    if (holder && body?.holder && body.holder !== holder && body.holder !== holderRun) throw conflict(`the lock of ${stack}/${env} is held by ${holderRun}, not ${body.holder}`);
    if (holder) {
      // The lock drops only the holder named here, so an unlock that races a hand-over frees nobody else.
      await client.workflow.getHandle(stackLockWorkflowId(stack, env)).signal(forceUnlockSignal, { by: req.principal!.subject, reason: body?.reason, expectedHolder: body?.holder ?? holder });
    }
    res.json({ stack, environment: env, unlocked: true, previousHolder: holderRun });
  });

  registry.add(router, MOUNT, { method: 'post', path: '/:stack/environments/:env/drift-scan', summary: 'Scan for drift now (refresh-only plan of the current version)', tags, roles: ['deployer'], params: envParams, body: z.strictObject({ remediate: z.boolean().optional() }).optional(), responses: { 202: { description: 'scan started', schema: z.object({ id: z.string() }) } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const id = `s-${randomUUID()}`;
    const remediate = (req.body as { remediate?: boolean } | undefined)?.remediate;
    const input: DriftScanInput = {
      stack,
      environment: env,
      requestedBy: req.principal!.subject,
      remediation: remediate ? buildRunInput(config, { kind: 'rollback', stack, environment: env }, req.principal!.subject, 'template') : undefined,
    };
    await client.workflow.start('driftScanWorkflow', {
      workflowId: driftScanWorkflowId(stack, env, id),
      taskQueue: config.temporal.taskQueue,
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: StackKey, value: stack },
        { key: EnvironmentKey, value: env },
        { key: KindKey, value: 'drift' },
      ]),
      staticSummary: `drift scan ${stack}/${env} by ${req.principal!.subject}`,
    });
    res.status(202).json({ id, workflowId: driftScanWorkflowId(stack, env, id) });
  });

  registry.add(router, MOUNT, { method: 'get', path: '/:stack/environments/:env/drift', summary: 'Latest drift report', tags, roles: ['viewer'], params: envParams, responses: { 200: { description: 'report', schema: driftSchema }, 404: { description: 'never scanned' } } }, async (req, res) => {
    const { stack, env } = req.parsedParams;
    known(stack, env);
    const key = driftReportKey(stack, env);
    if (!(await artifacts.exists(key))) throw notFound(`${stack}/${env} has not been scanned for drift yet (POST .../drift-scan)`);
    res.json(JSON.parse((await artifacts.get(key)).toString('utf8')));
  });

  return { mount: MOUNT, router };
}
