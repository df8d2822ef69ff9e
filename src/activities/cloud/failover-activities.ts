/**
 * The FailoverWorkflow's activities. Each call names its group; the group's `provider` in strata.yaml picks
 * the cloud (AWS SDK, two Kubernetes clusters or the simulated world) behind the same interface. This layer adds what both need:
 * error taxonomy, heartbeats, fault injection, the health-wait loop and the HTTP probe of the monitor.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { FailoverGroupConfig } from '../../shared/config';
import { ErrorCode } from '../../shared/errors';
import type {
  FailoverMode,
  FailoverSide,
  FailoverStageName,
  PlannedAction,
  ReadinessCheck,
} from '../../contracts/failover';
import { createAwsClients, type AwsClientsOptions, type AwsFailoverClients } from './aws/clients';
import { createAwsFailoverActivities, type AwsFailoverOptions } from './aws';
import {
  LockExpiredError,
  LockHeldError,
  SideUnreachableError,
  type Capacity,
  type FailoverAttention,
  type FailoverCloud,
  type FailoverHistoryEntry,
  type FailoverIntent,
  type GlobalState,
  type GroupRef,
  type HealthReport,
  type LagReport,
  type OpContext,
  type PromoteOutcome,
  type StepOutcome,
  type TrafficSnapshot,
} from './failover-cloud';
import { probeGroup, waitHealthy } from './failover-health';
import { buildPlan, targetCapacityOf } from './failover-plan';
import { globalStateRegionOf } from './aws/global-state';
import { createKubernetesFailoverActivities, type KubernetesFailoverOptions } from './kubernetes';
import { createSimulatedFailoverActivities } from './simulated';

/** Builds the AWS clients of one group (default: createAwsClients with the group's endpoint and the default credential chain). */
export type AwsClientsFactory = (group: string, cfg: FailoverGroupConfig) => AwsFailoverClients;

export interface FailoverActivityDeps {
  groups: Record<string, FailoverGroupConfig>;
  aws?: AwsClientsFactory;
  awsOptions?: Omit<AwsFailoverOptions, 'clients'>;
  /** `provider: kubernetes` groups: cluster clients and poll interval (global state goes through `aws`'s DynamoDB). */
  kubernetesOptions?: Omit<KubernetesFailoverOptions, 'dynamodb'>;
  /** Where the simulated world keeps one JSON file per group. Required when a group has `provider: simulated`. */
  simulated?: { dataDir: string };
  /** HTTP probes of the monitor (tests inject a stub). */
  fetch?: typeof fetch;
  /** How often verify_health re-checks the target (default 2 s). */
  healthPollIntervalMs?: number;
}

interface Base {
  group: string;
  failoverId: string;
}

/** Every state-changing step carries its stage and step name (for fault injection and error messages). */
export interface StepRequest extends Base {
  stage: FailoverStageName;
  step: string;
  side: FailoverSide;
  /** Input-level fault injection, resolved by the workflow: fail this call non-retryably. */
  injectFailure?: boolean;
}

export interface FailoverReadiness {
  from: FailoverSide;
  to: FailoverSide;
  fromRegion: string;
  toRegion: string;
  ready: boolean;
  checks: ReadinessCheck[];
  plan: PlannedAction[];
  capacity: Partial<Record<FailoverSide, Capacity>>;
  targetCapacity: Capacity;
  /** Where traffic went when readiness was checked: what a rollback restores. */
  trafficBefore?: TrafficSnapshot;
  state: GlobalState;
}

const other = (s: FailoverSide): FailoverSide => (s === 'primary' ? 'secondary' : 'primary');

/** Maps cloud errors onto the taxonomy once, so the workflow sees typed ApplicationFailures. */
function toFailure(err: unknown, what: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof LockHeldError) {
    return ApplicationFailure.create({
      type: ErrorCode.FAILOVER_IN_PROGRESS,
      message: err.message,
      nonRetryable: true,
      details: [{ holder: err.holder, expiresAt: err.expiresAt }],
    });
  }
  if (err instanceof LockExpiredError) {
    return ApplicationFailure.create({ type: ErrorCode.FAILOVER_LOCK_LOST, message: err.message, nonRetryable: true });
  }
  const e = err as Error & { code?: string; $metadata?: unknown };
  const network =
    err instanceof SideUnreachableError ||
    /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|socket hang up|fetch failed|TimeoutError/.test(
      `${e?.name} ${e?.code} ${e?.message}`,
    );
  // A zone, group, database or table the configuration names but the account lacks: retrying cannot create
  // it, so say so at once instead of after every attempt.
  const missing = !network && /NotFound|NoSuch|not found/i.test(`${e?.name} ${e?.code} ${e?.message}`);
  if (missing) {
    return ApplicationFailure.create({
      type: ErrorCode.CONFIG_INVALID,
      message: `${what}: ${e?.message ?? String(err)} (check the failover group's configuration)`,
      nonRetryable: true,
    });
  }
  return ApplicationFailure.create({
    type: network ? ErrorCode.PROVIDER_UNAVAILABLE : ErrorCode.FAILOVER_STEP_FAILED,
    message: `${what}: ${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e?.message ?? String(err)}`,
    nonRetryable: false,
  });
}

/** Factory over injected clouds and clients (no module-level singletons): one instance per worker. */
export function createFailoverActivities(deps: FailoverActivityDeps) {
  const awsFactory: AwsClientsFactory =
    deps.aws ?? ((_, cfg) => createAwsClients({ endpoint: cfg.endpoint } satisfies AwsClientsOptions));
  const awsClouds = new Map<string, FailoverCloud>();
  let simulated: FailoverCloud | undefined;
  const doFetch = deps.fetch ?? fetch;
  const pollMs = deps.healthPollIntervalMs ?? 2000;

  function group(name: string): GroupRef {
    const cfg = deps.groups[name];
    if (!cfg) {
      throw ApplicationFailure.create({
        type: ErrorCode.FAILOVER_GROUP_NOT_FOUND,
        message: `unknown failover group "${name}" (known: ${Object.keys(deps.groups).join(', ')})`,
        nonRetryable: true,
      });
    }
    return { name, cfg };
  }

  function cloudOf(g: GroupRef): FailoverCloud {
    if (g.cfg.provider === 'simulated') {
      if (!deps.simulated)
        throw ApplicationFailure.create({
          type: ErrorCode.CONFIG_INVALID,
          message: 'simulated failover groups need a data directory (deps.simulated.dataDir)',
          nonRetryable: true,
        });
      return (simulated ??= createSimulatedFailoverActivities({ dataDir: deps.simulated.dataDir }));
    }
    let c = awsClouds.get(g.name);
    if (!c && g.cfg.provider === 'kubernetes') {
      // The global state is the AWS provider's DynamoDB item, through the same clients (moto in tests).
      const clients = awsFactory(g.name, g.cfg);
      c = createKubernetesFailoverActivities({
        ...deps.kubernetesOptions,
        dynamodb: (grp) => clients.dynamodb(globalStateRegionOf(grp.cfg)),
      });
      awsClouds.set(g.name, c);
    }
    if (!c) {
      c = createAwsFailoverActivities({ ...deps.awsOptions, clients: awsFactory(g.name, g.cfg) });
      awsClouds.set(g.name, c);
    }
    return c;
  }

  function ctxOf(failoverId: string): OpContext {
    let signal: AbortSignal;
    try {
      signal = cancellationSignal();
    } catch {
      signal = new AbortController().signal; // called outside an activity (unit tests of this layer)
    }
    return {
      failoverId,
      signal,
      heartbeat: (d) => {
        try {
          heartbeat(d);
        } catch {
          /* outside an activity */
        }
      },
    };
  }

  /** Runs one step: fault injection first (so an injected failure never half-applies), then the cloud call. */
  async function step<T>(
    req: StepRequest,
    fn: (cloud: FailoverCloud, g: GroupRef, ctx: OpContext) => Promise<T>,
  ): Promise<T> {
    const g = group(req.group);
    const cloud = cloudOf(g);
    const fault = req.injectFailure
      ? `injected failure in ${req.stage}/${req.step}`
      : await cloud.injectedFault?.(g, req.stage, req.step);
    if (fault)
      throw ApplicationFailure.create({ type: ErrorCode.FAILOVER_STEP_FAILED, message: fault, nonRetryable: true });
    try {
      return await fn(cloud, g, ctxOf(req.failoverId));
    } catch (err) {
      throw toFailure(err, `${req.stage}/${req.step} on ${req.side} (${g.cfg[req.side].region})`);
    }
  }

  return {
    /** Stage 1: who is active, what the target looks like, and the plan of actions. Changes nothing. */
    async failoverReadiness(req: Base & { mode: FailoverMode; to?: FailoverSide }): Promise<FailoverReadiness> {
      const g = group(req.group);
      const cloud = cloudOf(g);
      try {
        const state = await cloud.readState(g);
        const from = req.to ? other(req.to) : state.activeSide;
        const to = req.to ?? other(state.activeSide);
        const r = await cloud.readiness(g, { from, to, mode: req.mode });
        const checks: ReadinessCheck[] = [
          {
            name: 'target_not_active',
            ok: state.activeSide !== to,
            side: to,
            detail:
              state.activeSide === to
                ? `${to} is already the active side`
                : `active side is ${state.activeSide} (epoch ${state.epoch})`,
          },
          ...r.checks,
        ];
        const held = state.lock && state.lock.owner !== req.failoverId && Date.parse(state.lock.expiresAt) > Date.now();
        checks.push({
          name: 'global_lock_free',
          ok: !held,
          detail: held ? `held by ${state.lock!.owner} until ${state.lock!.expiresAt}` : 'free',
        });
        const targetCapacity = targetCapacityOf(g, from, to, r.capacity);
        return {
          from,
          to,
          fromRegion: g.cfg[from].region,
          toRegion: g.cfg[to].region,
          ready: checks.every((c) => c.ok),
          checks,
          plan: buildPlan(g, from, to, req.mode, r, targetCapacity),
          capacity: r.capacity,
          targetCapacity,
          trafficBefore: r.trafficSnapshot,
          state,
        };
      } catch (err) {
        throw toFailure(err, `readiness of ${g.name}`);
      }
    },

    /** Takes (or renews) the group's global lock; FAILOVER_IN_PROGRESS when another failover holds it. */
    async failoverAcquireLock(
      req: Base & { ttlMs: number; intent?: FailoverIntent; stage: FailoverStageName; injectFailure?: boolean },
    ): Promise<GlobalState> {
      return step({ ...req, step: 'acquire_lock', side: req.intent?.to ?? 'primary' }, (cloud, g) =>
        cloud.acquireLock(g, { owner: req.failoverId, ttlMs: req.ttlMs, intent: req.intent }),
      );
    },

    /** Releases the lock if this failover holds it (always safe to call). */
    async failoverReleaseLock(req: Base): Promise<boolean> {
      const g = group(req.group);
      try {
        return await cloudOf(g).releaseLock(g, req.failoverId);
      } catch (err) {
        throw toFailure(err, `release lock of ${g.name}`);
      }
    },

    /** Stage 6: the new active side, epoch + 1 (exactly once per failover id), history; `attention` when it ended part-way. */
    async failoverCommit(
      req: StepRequest & { entry: Omit<FailoverHistoryEntry, 'epoch'>; attention?: FailoverAttention },
    ): Promise<GlobalState> {
      return step(req, (cloud, g) =>
        cloud.commit(g, { owner: req.failoverId, entry: req.entry, attention: req.attention }),
      );
    },

    async failoverDrainTraffic(req: StepRequest): Promise<StepOutcome> {
      return step(req, (cloud, g, ctx) => cloud.drainTraffic(g, req.side, ctx));
    },

    async failoverRouteTraffic(req: StepRequest): Promise<StepOutcome> {
      return step(req, (cloud, g, ctx) => cloud.routeTraffic(g, req.side, ctx));
    },

    /** The compensation of drain and switch: traffic back the way readiness found it. */
    async failoverRestoreTraffic(req: StepRequest & { snapshot: TrafficSnapshot }): Promise<StepOutcome> {
      return step(req, (cloud, g, ctx) => cloud.restoreTraffic(g, req.snapshot, ctx));
    },

    async failoverScale(req: StepRequest & { capacity: Capacity }): Promise<StepOutcome> {
      return step(req, (cloud, g, ctx) => cloud.scale(g, req.side, req.capacity, ctx));
    },

    async failoverFenceDatabase(req: StepRequest & { fenced: boolean }): Promise<StepOutcome> {
      return step(req, (cloud, g, ctx) => cloud.fenceDatabase(g, req.side, req.fenced, ctx));
    },

    async failoverReplicationLag(req: StepRequest): Promise<LagReport> {
      return step(req, (cloud, g, ctx) => cloud.replicationLag(g, req.side, ctx));
    },

    /** Long-running: heartbeats while the replica is promoted; a retry after a crash never promotes twice. */
    async failoverPromoteReplica(req: StepRequest): Promise<PromoteOutcome> {
      return step(req, (cloud, g, ctx) => cloud.promoteReplica(g, req.side, ctx));
    },

    async failoverReattachReplica(req: StepRequest & { source: FailoverSide }): Promise<StepOutcome> {
      return step(req, (cloud, g, ctx) => cloud.reattachReplica(g, req.side, req.source, ctx));
    },

    /** Polls the target's health until it is healthy or `timeoutMs` passes (then fails non-retryably). */
    async failoverVerifyHealth(req: StepRequest & { timeoutMs: number }): Promise<HealthReport> {
      return step(req, (cloud, g, ctx) => waitHealthy(cloud, g, req.side, ctx, { timeoutMs: req.timeoutMs, pollMs }));
    },

    /** The monitor's probe: HTTP GET of `health.url` when configured, else the cloud's view of the active side. */
    async failoverProbe(req: {
      group: string;
      timeoutMs: number;
    }): Promise<HealthReport & { activeSide?: FailoverSide }> {
      const g = group(req.group);
      return probeGroup(() => cloudOf(g), g, ctxOf('probe'), { timeoutMs: req.timeoutMs, fetch: doFetch });
    },
  };
}

export type FailoverActivities = ReturnType<typeof createFailoverActivities>;
