/**
 * @kubernetes/client-node, loaded the first time a run or a failover talks to a cluster. Loading it costs about
 * 85 MiB of RSS and 0.9 s, which every worker paid at start-up, most of them never reaching a cluster.
 * Types come from `import type`, which costs nothing at run time.
 */
import type * as KubeClient from '@kubernetes/client-node';

let loaded: typeof KubeClient | undefined;

/** The client module, required on first use. */
export function kubeClient(): typeof KubeClient {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('@kubernetes/client-node') as typeof KubeClient);
}
