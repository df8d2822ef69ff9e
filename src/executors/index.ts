/** Builds the executor table activities dispatch on (StackSpec.executor → IacExecutor). */
import { createCdktfExecutor, type CdktfExecutorOptions } from './cdktf/cdktf-executor';
import { createTofuExecutor } from './tofu/tofu-executor';
import type { ExecutorKind, IacExecutor } from './types';

export { killAllTools } from './tofu/run-tool';
export type { CdktfExecutorOptions } from './cdktf/cdktf-executor';
export type { TofuToolOptions } from './tofu/tool-env';

/** Options for every executor; tofu and CDKTF share the OpenTofu settings. */
export interface CreateExecutorsOptions {
  tofu?: CdktfExecutorOptions;
}

/** One executor per kind. */
export function createExecutors(opts: CreateExecutorsOptions = {}): Record<ExecutorKind, IacExecutor> {
  return {
    tofu: createTofuExecutor(opts.tofu),
    cdktf: createCdktfExecutor(opts.tofu),
    // TODO(lead): wire the simulated executor once src/executors/simulated/ lands:
    //   import { createSimulatedExecutor } from './simulated'; simulated: createSimulatedExecutor(opts.simulated)
    simulated: missingExecutor('simulated'),
  };
}

function missingExecutor(kind: ExecutorKind): IacExecutor {
  const fail = (): never => {
    throw new Error(`executor ${kind} is not wired in src/executors/index.ts yet`);
  };
  return {
    kind,
    prepare: fail,
    plan: fail,
    planDestroy: fail,
    apply: fail,
    outputs: fail,
    snapshotState: fail,
    detectDrift: fail,
  };
}
