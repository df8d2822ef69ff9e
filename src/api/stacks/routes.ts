/** /api/v1/stacks: configured stacks, their lock, current state, state history, rollback, destroy, unlock. */
import { Router } from 'express';
import type { StrataConfig } from '../../shared/config';
import type { StateStore } from '../../store/state-store';
import { runLinks } from '../deployments/routes';
import type { RunService } from '../deployments/run-service';
import { createdRunSchema } from '../deployments/schemas';
import {
  destroyBody,
  driftScanBody,
  driftScanStartedSchema,
  driftSchema,
  envParams as envParamsOf,
  historyQuery,
  historySchema,
  rollbackBody,
  stackListSchema,
  stateSchema,
  unlockBody,
  unlockedSchema,
} from './schemas';
import { conflict, notFound } from '../http-errors';
import type { RouteRegistry } from '../routes';
import { randomUUID } from 'node:crypto';
import type { DriftGateway } from '../../client';
import { driftReportKey } from '../../store/keys';
import { buildRunInput } from '../../shared/run-input';
import type { ArtifactStore } from '../../store/artifact-store';
import type { DriftScanInput } from '../../contracts/drift';

const MOUNT = '/api/v1/stacks';
const tags = ['stacks'];

export interface StacksDeps {
  config: StrataConfig;
  state: StateStore;
  artifacts: ArtifactStore;
  runs: RunService;
  drift: DriftGateway;
}

export function stacksRouter(registry: RouteRegistry, deps: StacksDeps): { mount: string; router: Router } {
  const { config, state, runs, drift, artifacts } = deps;
  const router = Router();
  const envParams = envParamsOf(config);

  const known = (stack: string, env: string) => {
    const s = config.stacks[stack];
    if (!s) throw notFound(`unknown stack "${stack}" (known: ${Object.keys(config.stacks).join(', ')})`);
    const envs = s.environments ?? Object.keys(config.environments);
    if (!envs.includes(env)) throw notFound(`stack "${stack}" has no environment "${env}" (known: ${envs.join(', ')})`);
  };

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/',
      summary: 'Configured stacks with their environments, versions and locks',
      tags,
      roles: ['viewer'],
      responses: { 200: { description: 'stacks', schema: stackListSchema } },
    },
    async (_req, res) => {
      const items = await Promise.all(
        Object.entries(config.stacks).map(async ([name, s]) => ({
          name,
          executor: s.executor,
          description: s.description,
          environments: await Promise.all(
            (s.environments ?? Object.keys(config.environments)).map(async (env) => {
              const [latest, lock] = await Promise.all([
                state.latestVersion(name, env),
                runs.lockState(name, env).catch(() => undefined),
              ]);
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
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:stack/environments/:env/state',
      summary: 'Current state version',
      tags,
      roles: ['viewer'],
      params: envParams,
      temporal: false,
      responses: {
        200: { description: 'state', schema: stateSchema },
        404: { description: 'unknown stack/environment, or never applied' },
      },
    },
    async (req, res) => {
      const { stack, env } = req.parsedParams;
      known(stack, env);
      const v = await state.latestVersion(stack, env);
      if (!v) throw notFound(`${stack}/${env} has no state yet: nothing has been applied`);
      res.json({
        version: v.version,
        deploymentId: v.deploymentId,
        kind: v.kind,
        createdAt: v.createdAt,
        planHash: v.planHash,
        outputs: v.outputs,
        resources: v.resources,
      });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:stack/environments/:env/state/history',
      summary: 'State versions, newest first',
      tags,
      roles: ['viewer'],
      params: envParams,
      query: historyQuery,
      temporal: false,
      responses: {
        200: { description: 'history', schema: historySchema },
        404: { description: 'unknown stack/environment' },
      },
    },
    async (req, res) => {
      const { stack, env } = req.parsedParams;
      known(stack, env);
      const items = await state.listVersions(stack, env, req.parsedQuery.limit);
      res.json({
        items: items.map((v) => ({
          version: v.version,
          deploymentId: v.deploymentId,
          kind: v.kind,
          createdAt: v.createdAt,
          planHash: v.planHash,
          restoredFrom: v.restoredFrom,
        })),
      });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:stack/environments/:env/rollback',
      summary: 'Re-apply the configuration of an earlier state version as a new run',
      tags,
      roles: ['deployer'],
      params: envParams,
      body: rollbackBody,
      responses: {
        202: { description: 'rollback run accepted', schema: createdRunSchema },
        400: { description: 'invalid request, or the target version is a destroy' },
        404: { description: 'unknown stack/environment, or version not retained' },
        409: { description: 'target is the current version, or a destroy' },
      },
    },
    async (req, res) => {
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
      if (versions[0]?.version === target.version)
        throw conflict(`version ${target.version} is already the current version of ${stack}/${env}`);
      // Which versions are destroys is the stack's state, not the request's shape: a conflict, like the one above.
      if (target.kind === 'destroy')
        throw conflict(`version ${target.version} is a destroy; deploy instead to recreate the stack`);
      const { id, status } = await runs.start(
        {
          kind: 'rollback',
          stack,
          environment: env,
          targetVersion: target.version,
          reason: req.body.reason,
          idempotencyKey: req.body.idempotencyKey,
          priority: req.body.priority,
          policyFlags: req.body.policyFlags,
        },
        req.principal!,
      );
      res.status(202).json({ id, status, stack, environment: env, targetVersion: target.version, links: runLinks(id) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:stack/environments/:env/destroy',
      summary: 'Destroy everything the stack manages in the environment (plan -destroy → approval → apply)',
      tags,
      roles: ['deployer'],
      params: envParams,
      body: destroyBody,
      responses: { 202: { description: 'destroy run accepted', schema: createdRunSchema } },
    },
    async (req, res) => {
      const { stack, env } = req.parsedParams;
      known(stack, env);
      const { id, status } = await runs.start(
        {
          kind: 'destroy',
          stack,
          environment: env,
          reason: req.body.reason,
          idempotencyKey: req.body.idempotencyKey,
          policyFlags: req.body.policyFlags,
        },
        req.principal!,
      );
      res.status(202).json({ id, status, stack, environment: env, links: runLinks(id) });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:stack/environments/:env/unlock',
      summary: 'Force-unlock the stack lock (admin), naming the holder to drop (default: the current one)',
      tags,
      roles: ['admin'],
      params: envParams,
      body: unlockBody,
      responses: {
        200: { description: 'unlocked', schema: unlockedSchema },
        409: { description: 'the lock is held by another run than the one named' },
      },
    },
    async (req, res) => {
      const { stack, env } = req.parsedParams;
      known(stack, env);
      const body = req.body as { reason?: string; holder?: string } | undefined;
      const previousHolder = await runs.forceUnlock(stack, env, req.principal!, {
        reason: body?.reason,
        holder: body?.holder,
      });
      res.json({ stack, environment: env, unlocked: true, previousHolder });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'post',
      path: '/:stack/environments/:env/drift-scan',
      summary: 'Scan for drift now (refresh-only plan of the current version)',
      tags,
      roles: ['deployer'],
      params: envParams,
      body: driftScanBody,
      responses: { 202: { description: 'scan started', schema: driftScanStartedSchema } },
    },
    async (req, res) => {
      const { stack, env } = req.parsedParams;
      known(stack, env);
      const id = `s-${randomUUID()}`;
      const remediate = (req.body as { remediate?: boolean } | undefined)?.remediate;
      const input: DriftScanInput = {
        stack,
        environment: env,
        requestedBy: req.principal!.subject,
        remediation: remediate
          ? buildRunInput(config, { kind: 'rollback', stack, environment: env }, req.principal!.subject, 'template')
          : undefined,
      };
      const workflowId = await drift.start(input, id);
      res.status(202).json({ id, workflowId });
    },
  );

  registry.add(
    router,
    MOUNT,
    {
      method: 'get',
      path: '/:stack/environments/:env/drift',
      summary: 'Latest drift report',
      tags,
      roles: ['viewer'],
      params: envParams,
      temporal: false,
      responses: {
        200: { description: 'report', schema: driftSchema },
        404: { description: 'unknown stack/environment, or never scanned' },
      },
    },
    async (req, res) => {
      const { stack, env } = req.parsedParams;
      known(stack, env);
      const key = driftReportKey(stack, env);
      if (!(await artifacts.exists(key)))
        throw notFound(`${stack}/${env} has not been scanned for drift yet (POST .../drift-scan)`);
      res.json(JSON.parse((await artifacts.get(key)).toString('utf8')));
    },
  );

  return { mount: MOUNT, router };
}
