/** Builds the executor table activities dispatch on (StackSpec.executor → IacExecutor). */
import { createCdktfExecutor, type CdktfExecutorOptions } from './cdktf/cdktf-executor';
import { createCloudFormationExecutor, type CfnExecutorOptions } from './cloudformation/cfn-executor';
import { createHelmExecutor, type HelmExecutorOptions } from './helm/helm-executor';
import { createKubernetesExecutor, type K8sExecutorOptions } from './kubernetes/k8s-executor';
import { createSimulatedExecutor, type SimulatedExecutorOptions } from './simulated';
import { createTofuExecutor } from './tofu/tofu-executor';
import type { ExecutorKind, IacExecutor } from './types';

export { killAllTools } from './tofu/run-tool';
export type { CdktfExecutorOptions } from './cdktf/cdktf-executor';
export type { CfnExecutorOptions } from './cloudformation/cfn-executor';
export type { SimulatedExecutorOptions } from './simulated';
export type { TofuToolOptions } from './tofu/tool-env';

/** Options per executor; the tofu and CDKTF executors share the OpenTofu settings. */
export interface CreateExecutorsOptions {
  tofu?: CdktfExecutorOptions;
  simulated?: SimulatedExecutorOptions;
  cloudformation?: CfnExecutorOptions;
  kubernetes?: K8sExecutorOptions;
  helm?: HelmExecutorOptions;
}

/** One executor per kind. */
export function createExecutors(opts: CreateExecutorsOptions = {}): Record<ExecutorKind, IacExecutor> {
  return {
    tofu: createTofuExecutor(opts.tofu),
    cdktf: createCdktfExecutor(opts.tofu),
    simulated: createSimulatedExecutor(opts.simulated),
    cloudformation: createCloudFormationExecutor(opts.cloudformation),
    kubernetes: createKubernetesExecutor(opts.kubernetes),
    helm: createHelmExecutor(opts.helm),
  };
}
