/**
 * CDKTF stacks: synthesize the TypeScript stack offline to cdk.tf.json, then hand that JSON to the
 * OpenTofu executor. The synthesized JSON *is* the config snapshot, so plan, apply and a later rollback use
 * exactly what was synthesized, never a re-synth of code that may have changed.
 *
 * Upstream archived CDKTF in December 2025. It stays behind IacExecutor, and only `prepare` knows about
 * it: replacing it (plain HCL, or another generator emitting *.tf.json) touches this folder alone.
 */
import fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import { secretRefsOf } from '../../shared/secrets';
import type {
  ApplyResult,
  ConfigSnapshot,
  DriftReport,
  ExecutorContext,
  ExecutorKind,
  IacExecutor,
  PendingChanges,
  PlanSummary,
  StackSpec,
  StateSnapshot,
} from '../types';
import { TofuExecutor } from '../tofu/tofu-executor';
import type { TofuToolOptions } from '../tofu/tool-env';
import { workspaceDir } from '../tofu/workspace';
import { synthStack } from './synth';

/** CDKTF executor options: the tofu ones plus the synth time limit. */
export interface CdktfExecutorOptions extends TofuToolOptions {
  synthTimeoutMs?: number;
}

/** File name of the synthesized config inside the snapshot and the workspace. */
export const SYNTH_FILE = 'cdk.tf.json';

/** CDKTF synth in front of the OpenTofu executor. */
export class CdktfExecutor implements IacExecutor {
  readonly kind: ExecutorKind = 'cdktf';
  private readonly tofu: TofuExecutor;

  constructor(private readonly opts: CdktfExecutorOptions = {}) {
    this.tofu = new TofuExecutor(opts);
  }

  async prepare(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
    // Synth bakes variables into the synthesized JSON, which is snapshotted: a secret would be stored with it.
    const refs = Object.entries(secretRefsOf(spec.variables));
    if (refs.length > 0) {
      throw ApplicationFailure.create({
        type: ErrorCode.VALIDATION_FAILED,
        nonRetryable: true,
        message: `CDKTF stacks cannot take secrets by reference (variable ${refs.map(([v]) => v).join(', ')}): synth would bake the value into the snapshot`,
      });
    }
    const outdir = `${workspaceDir(ctx)}.synth`;
    try {
      const { stackId, config } = await synthStack({
        stackDir: spec.path,
        variables: spec.variables,
        context: { stack: ctx.stack, environment: ctx.environment },
        outdir,
        timeoutMs: this.opts.synthTimeoutMs,
        signal: ctx.signal,
        heartbeat: ctx.heartbeat,
        log: ctx.log,
      });
      ctx.log({ level: 'info', message: `synthesized CDKTF stack ${stackId}` });
      // Variables are baked into the JSON by synth; passing them again as tfvars would only draw
      // "undeclared variable" warnings.
      const files = { [SYNTH_FILE]: JSON.stringify(config, null, 2) };
      return await this.tofu.prepareDocument({ version: 1, files, tfvars: {} }, this.kind, spec, ctx);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  }

  plan(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return this.tofu.plan(spec, config, ctx);
  }

  pendingChanges(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PendingChanges> {
    return this.tofu.pendingChanges(spec, config, ctx);
  }

  planDestroy(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<PlanSummary> {
    return this.tofu.planDestroy(spec, config, ctx);
  }

  apply(spec: StackSpec, plan: PlanSummary, ctx: ExecutorContext): Promise<ApplyResult> {
    return this.tofu.apply(spec, plan, ctx);
  }

  outputs(spec: StackSpec, ctx: ExecutorContext): Promise<Record<string, unknown>> {
    return this.tofu.outputs(spec, ctx);
  }

  snapshotState(spec: StackSpec, ctx: ExecutorContext): Promise<StateSnapshot> {
    return this.tofu.snapshotState(spec, ctx);
  }

  detectDrift(spec: StackSpec, config: ConfigSnapshot, ctx: ExecutorContext): Promise<DriftReport> {
    return this.tofu.detectDrift(spec, config, ctx);
  }
}

/** Creates the CDKTF executor. */
export function createCdktfExecutor(opts: CdktfExecutorOptions = {}): CdktfExecutor {
  return new CdktfExecutor(opts);
}
