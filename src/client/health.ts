/** Can the deployment make progress: Temporal reachable, and a worker recently polling the task queue. */
import type { Client } from '@temporalio/client';

export interface Readiness {
  ready: boolean;
  temporal: boolean;
  workers: number;
  reason?: string;
}

/** Pollers linger in describeTaskQueue for a while after a worker stops; count only recent ones. */
const POLLER_FRESH_MS = 70_000;

export async function readiness(client: Client, namespace: string, taskQueue: string): Promise<Readiness> {
  try {
    const res = await client.connection.withDeadline(Date.now() + 2000, () =>
      client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: 1 },
        taskQueueType: 1,
      }),
    );
    const cutoff = Date.now() - POLLER_FRESH_MS;
    const workers = (res.pollers ?? []).filter((p) => {
      const t = p.lastAccessTime;
      const ms = t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : Date.now();
      return ms >= cutoff;
    }).length;
    return workers > 0
      ? { ready: true, temporal: true, workers }
      : { ready: false, temporal: true, workers, reason: `no worker polls task queue "${taskQueue}"` };
  } catch (err) {
    return { ready: false, temporal: false, workers: 0, reason: `Temporal unreachable: ${(err as Error).message}` };
  }
}
