/** The bare-Temporal baseline of the throughput section: one workflow that runs one trivial activity. */
import { proxyActivities } from '@temporalio/workflow';

/** The activity the baseline worker serves (bench/trivial-worker.ts). */
export interface TrivialActivities {
  benchEcho(n: number): Promise<number>;
}

const { benchEcho } = proxyActivities<TrivialActivities>({ startToCloseTimeout: '1 minute' });

/** Calls benchEcho once and returns its answer. */
export async function benchTrivialWorkflow(n: number): Promise<number> {
  return benchEcho(n);
}
