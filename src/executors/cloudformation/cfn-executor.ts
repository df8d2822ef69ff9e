/**
 * AWS CloudFormation behind the IacExecutor interface. The plan is a change set made from the snapshot's template
 * and parameters; the plan hash covers the template's sha256, the parameters, the change set's id and its
 * resource changes; the apply executes exactly that change set. Strata keeps its own record of the stack (id,
 * last stack event, resources, outputs) in the StateStore, which is what the stale-plan rule and rollbacks use.
 */
import type { CloudFormationClient, CloudFormationClientConfig } from '@aws-sdk/client-cloudformation';
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
import { clientFor, type CfnTarget } from './aws';
import { detectDrift } from './drift';
import { captureConfig, makePlan } from './plan';
import { loadState } from './state';

/** Options of the CloudFormation executor. */
export interface CfnExecutorOptions {
  /** Extra client settings (credentials, retries) on top of the stack's region and endpoint. */
  client?: Partial<CloudFormationClientConfig>;
  /** How often a running stack operation is polled (default 1 s). */
  pollMs?: number;
}

class CloudFormationExecutor implements IacExecutor {
  readonly kind = 'cloudformation' as const;
  private readonly clients = new Map<string, CloudFormationClient>();

  constructor(private readonly opts: CfnExecutorOptions) {}

  private readonly cfnFor = (t: CfnTarget): CloudFormationClient => {
    const key = `${t.region}|${t.endpoint ?? ''}`;
    let c = this.clients.get(key);
    if (!c) this.clients.set(key, (c = clientFor(t, this.opts.client)));
    return c;
  };

  prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
    return captureConfig(spec, ctx);
  }

  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return makePlan(spec, config, ctx, this.cfnFor, false);
  }

  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return makePlan(spec, config, ctx, this.cfnFor, true);
  }

  apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult> {
    return applyPlan(spec, plan, ctx, this.cfnFor, { pollMs: this.opts.pollMs });
  }

  async outputs(_spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>> {
    return (await loadState(ctx)).outputs;
  }

  async snapshotState(_spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot> {
    const s = await loadState(ctx);
    return {
      serial: s.serial,
      lineage: s.lineage,
      resources: s.resources.map((r) => ({
        address: r.address,
        type: r.type,
        provider: 'aws',
        attributes: { physicalId: r.physicalId },
      })),
      outputs: s.outputs,
    };
  }

  detectDrift(spec: StackSpec, _config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport> {
    return detectDrift(spec, ctx, this.cfnFor);
  }
}

/** Builds the CloudFormation executor. */
export function createCloudFormationExecutor(opts: CfnExecutorOptions = {}): IacExecutor {
  return new CloudFormationExecutor(opts);
}
