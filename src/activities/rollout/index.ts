/**
 * Progressive-delivery activities: provision the new version beside stable, apply one step (capacity, then
 * traffic), measure an analysis window, revert to stable, finalize. Each is idempotent for its rollout id, so
 * a retry after a crash lands in the same place. The simulated provider is wired here; a real one (AWS
 * weighted records + Auto Scaling) plugs in behind the same five calls.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type {
  AwsRolloutTarget,
  AnalysisRequest,
  AnalysisResult,
  ProvisionRequest,
  RevertRequest,
  StepRequest,
  TrafficSnapshot,
} from '../../contracts/rollout';
import { ErrorCode } from '../../shared/errors';
import type { AwsFailoverClients } from '../cloud/aws/clients';
import { judge, prometheusMetrics, simulatedMetrics } from './analysis';
import { createAwsTraffic } from './aws-traffic';
import { logChange, SimulatedTrafficStore, type SimService } from './simulated-traffic';

export { SimulatedTrafficStore, seedSimulatedService, setSimulatedTrafficFaults } from './simulated-traffic';
export type { SimService, SimTrafficFaults } from './simulated-traffic';

export interface RolloutActivityDeps {
  simulated: { dataDir: string };
  /** AWS clients (real AWS or moto), created on the first AWS rollout. */
  aws?: () => AwsFailoverClients;
  /** HTTP for probes and Prometheus (tests may point it elsewhere). */
  fetch?: typeof fetch;
}

function snapshot(s: SimService): TrafficSnapshot {
  const v = (x: { version: string; capacity: number; weight: number }) => ({
    version: x.version,
    capacity: x.capacity,
    weight: x.weight,
  });
  return { stable: v(s.stable), candidate: s.candidate ? v(s.candidate) : undefined };
}

/** The candidate of this rollout, or a non-retryable conflict when another rollout owns the service. */
function ownCandidate(s: SimService, rolloutId: string) {
  if (s.candidate && s.candidate.rolloutId !== rolloutId) {
    throw ApplicationFailure.create({
      type: ErrorCode.ROLLOUT_CONFLICT,
      message: `service ${s.service} is already rolling out ${s.candidate.version} (rollout ${s.candidate.rolloutId})`,
      nonRetryable: true,
    });
  }
  return s.candidate;
}

export function createRolloutActivities(deps: RolloutActivityDeps) {
  const store = new SimulatedTrafficStore(deps.simulated.dataDir);
  const fetchFn = deps.fetch ?? fetch;
  let awsTraffic: ReturnType<typeof createAwsTraffic> | undefined;
  /** The AWS side of a request, or undefined for the simulated provider. */
  const aws = (req: { provider: string; aws?: AwsRolloutTarget }) => {
    if (req.provider !== 'aws') return undefined;
    if (!req.aws) {
      throw ApplicationFailure.create({
        type: ErrorCode.VALIDATION_FAILED,
        message: 'an aws rollout needs its aws target',
        nonRetryable: true,
      });
    }
    if (!deps.aws) {
      throw ApplicationFailure.create({
        type: ErrorCode.PROVIDER_UNAVAILABLE,
        message: 'this worker has no AWS clients configured',
        nonRetryable: true,
      });
    }
    awsTraffic ??= createAwsTraffic(deps.aws());
    return { traffic: awsTraffic, target: req.aws };
  };
  return {
    /** Starts the new version beside stable with no instances and no traffic; a retry finds its own candidate. */
    async rolloutProvision(req: ProvisionRequest): Promise<TrafficSnapshot> {
      const a = aws(req);
      if (a) return a.traffic.snapshot(a.target);
      return store.mutate(req.service, (s) => {
        if (!ownCandidate(s, req.rolloutId)) {
          if (s.stable.version === req.version) {
            throw ApplicationFailure.create({
              type: ErrorCode.VALIDATION_FAILED,
              message: `${req.version} is already the stable version of ${req.service}`,
              nonRetryable: true,
            });
          }
          s.candidate = { version: req.version, capacity: 0, weight: 0, rolloutId: req.rolloutId };
          logChange(s, 'provision', `${req.version} beside ${s.stable.version} (rollout ${req.rolloutId})`);
        }
        return snapshot(s);
      });
    },

    /** Capacity first, then traffic: the new version never takes a share it has no instances for. */
    async rolloutApplyStep(req: StepRequest): Promise<TrafficSnapshot> {
      const a = aws(req);
      if (a) return a.traffic.applyStep(a.target, req);
      const stall = (await store.read(req.service)).faults.stallStepsMs;
      // Heartbeating while it hangs, so a cancelled call (an abort) ends here instead of running on.
      for (const ctx = Context.current(), until = Date.now() + (stall ?? 0); Date.now() < until; ) {
        ctx.heartbeat();
        await ctx.sleep(100);
      }
      return store.mutate(req.service, (s) => {
        const c = ownCandidate(s, req.rolloutId);
        if (!c) {
          throw ApplicationFailure.create({
            type: ErrorCode.ROLLOUT_STEP_FAILED,
            message: `rollout ${req.rolloutId} has no candidate version on ${req.service} (was it reverted?)`,
            nonRetryable: true,
          });
        }
        c.capacity = req.candidateCapacity;
        s.stable.capacity = req.stableCapacity;
        c.weight = req.weight;
        s.stable.weight = 100 - req.weight;
        logChange(
          s,
          'step',
          `${c.version} ${req.weight} % x${c.capacity}, ${s.stable.version} ${s.stable.weight} % x${s.stable.capacity}`,
        );
        return snapshot(s);
      });
    },

    /** Measures the window that just ended against the step's thresholds. */
    async rolloutMeasure(req: AnalysisRequest): Promise<AnalysisResult> {
      const metrics = req.spec.prometheus
        ? await prometheusMetrics(req, fetchFn)
        : simulatedMetrics(await store.read(req.service), req);
      return judge(req, metrics, req.windowStartedAt, fetchFn);
    },

    /** All traffic back on stable at its old capacity, then the new version scaled to zero and removed. */
    async rolloutRevert(req: RevertRequest): Promise<TrafficSnapshot> {
      const a = aws(req);
      if (a) return a.traffic.revert(a.target, req);
      return store.mutate(req.service, (s) => {
        const c = ownCandidate(s, req.rolloutId);
        s.stable.capacity = Math.max(s.stable.capacity, req.stableCapacity);
        s.stable.weight = 100;
        if (c) {
          logChange(
            s,
            'revert',
            `${s.stable.version} 100 % x${s.stable.capacity}; ${c.version} scaled down from x${c.capacity}`,
          );
          s.candidate = undefined;
        }
        return snapshot(s);
      });
    },

    /** The new version becomes stable with all traffic; the old one is scaled to zero and removed. */
    async rolloutFinalize(req: Omit<RevertRequest, 'stableCapacity'>): Promise<TrafficSnapshot> {
      const a = aws(req);
      if (a) return a.traffic.finalize(a.target, req);
      return store.mutate(req.service, (s) => {
        const c = s.candidate;
        if (c && c.rolloutId === req.rolloutId) {
          logChange(
            s,
            'finalize',
            `${c.version} stable 100 % x${c.capacity}; ${s.stable.version} scaled down from x${s.stable.capacity}`,
          );
          s.stable = { version: c.version, capacity: c.capacity, weight: 100 };
          s.candidate = undefined;
        } else ownCandidate(s, req.rolloutId);
        return snapshot(s);
      });
    },

    /** The service as the provider has it now (the workflow reads stable's version and capacity once). */
    async rolloutTrafficSnapshot(req: {
      service: string;
      provider: ProvisionRequest['provider'];
    }): Promise<TrafficSnapshot> {
      return snapshot(await store.read(req.service));
    },
  };
}

export type RolloutActivities = ReturnType<typeof createRolloutActivities>;
