/** Gauges read from Temporal at scrape time: is it reachable, and how many runs sit in each active status. */
import type { Client } from '@temporalio/client';
import type { StrataConfig } from '../../shared/config';
import { readiness } from '../health/routes';
import type { MetricsRegistry } from './registry';

const ACTIVE = ['queued', 'planning', 'awaiting_approval', 'applying', 'verifying', 'rolling_back'];

export function registerRunGauges(metrics: MetricsRegistry, client: Client, config: StrataConfig): void {
  const ready = () => readiness(client, config.temporal.namespace, config.temporal.taskQueue);
  metrics.gauge('strata_temporal_up', 'Temporal reachable from the API (1) or not (0)', async () => [{ labels: {}, value: (await ready()).temporal ? 1 : 0 }]);
  metrics.gauge('strata_workers_polling', 'Workers recently polling the task queue', async () => [
    { labels: { task_queue: config.temporal.taskQueue }, value: (await ready()).workers },
  ]);
  metrics.gauge('strata_runs', 'Open stack runs by status (visibility count)', async () =>
    Promise.all(
      ACTIVE.map(async (status) => {
        const { count } = await client.workflow.count(`ExecutionStatus = 'Running' AND StrataStatus = '${status}'`);
        return { labels: { status }, value: count };
      }),
    ),
  );
}
