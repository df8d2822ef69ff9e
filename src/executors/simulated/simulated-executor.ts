/**
 * The simulated multi-provider cloud (the seeds' "dummy provider", grown up) behind the IacExecutor
 * interface: providers aws/gcp/azure/dummy, real plan/apply semantics over persistent state, provider
 * failover at plan time and fault injection from stack variables. See stacks/sim-multicloud/README.md.
 */
import path from 'node:path';
import type { ArtifactStore } from '../../store/artifact-store';
import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorContext,
  IacExecutor,
  PlanSummary,
  StackSpec,
  StateSnapshot,
} from '../types';
import { applyPlan } from './apply';
import { cloudVariables, loadDefinition, loggableVariables, resolveVariables } from './definition';
import { buildDesired } from './desired';
import { detectDrift } from './drift';
import { readFaults, sha256, type ConfigDocument } from './model';
import { toStateResources } from './outputs';
import { loadState, SimulatedCloud } from './persistence';
import { makePlan, type SimDeps } from './plan';
import { DEFAULT_PROVIDERS, type AvailabilityCheck } from './providers';

export interface SimulatedExecutorOptions {
  /** Where the simulated cloud's reality lives; default: the call's artifact store (shared by all workers). */
  cloudStore?: ArtifactStore;
  /** A runtime outage switch on top of the `unavailable_providers` variable (demos, chaos tests). */
  isProviderAvailable?: AvailabilityCheck;
}

class SimulatedExecutor implements IacExecutor {
  readonly kind = 'simulated' as const;
  private readonly deps: SimDeps;

  constructor(private readonly opts: SimulatedExecutorOptions) {
    this.deps = {
      cloud: (ctx) => new SimulatedCloud(opts.cloudStore ?? ctx.artifacts),
      isProviderAvailable: opts.isProviderAvailable,
    };
  }

  async prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
    const { file, definition } = await loadDefinition(spec.path);
    const variables = resolveVariables(definition, spec.variables ?? {});
    // Surface bad counts or references now rather than at plan time; the provider here is a placeholder.
    buildDesired(definition, cloudVariables(variables, ctx.secretValues), {
      stack: spec.stack,
      environment: spec.environment,
      provider: 'check',
      region: 'check',
    });
    const doc: ConfigDocument = {
      format: 'strata-sim-config/1',
      stack: spec.stack,
      source: path.basename(file),
      definition,
      variables,
    };
    const bytes = Buffer.from(JSON.stringify(doc, null, 2));
    const ref = `runs/${ctx.runId}/config.json`;
    await ctx.artifacts.put(ref, bytes);
    ctx.log({
      level: 'info',
      message: `captured ${doc.source}: ${Object.keys(definition.resources).length} resource blocks, variables ${JSON.stringify(loggableVariables(definition, variables))}`,
    });
    return { ref, digest: sha256(bytes), executor: 'simulated', variables };
  }

  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return makePlan(spec, config, ctx, this.deps, false);
  }

  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return makePlan(spec, config, ctx, this.deps, true);
  }

  apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult> {
    return applyPlan(spec, plan, ctx, this.deps);
  }

  async outputs(_spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>> {
    return (await loadState(ctx)).outputs;
  }

  async snapshotState(_spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot> {
    const s = await loadState(ctx);
    return { serial: s.serial, lineage: s.lineage, resources: toStateResources(s.resources), outputs: s.outputs };
  }

  detectDrift(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport> {
    return detectDrift(
      ctx,
      this.deps.cloud(ctx),
      readFaults(config.variables ?? {}),
      this.opts.isProviderAvailable,
      spec.providers ?? DEFAULT_PROVIDERS,
    );
  }
}

/** Builds the simulated-cloud executor. */
export function createSimulatedExecutor(opts: SimulatedExecutorOptions = {}): IacExecutor {
  return new SimulatedExecutor(opts);
}
