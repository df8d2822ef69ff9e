/** Gauges read from Temporal at scrape time: is it reachable, and how many runs sit in each active status. */
import type { TemporalGateway } from '../../client';
import type { MetricsRegistry } from './registry';

const ACTIVE = ['queued', 'planning', 'awaiting_approval', 'applying', 'verifying', 'rolling_back'];

export function registerRunGauges(metrics: MetricsRegistry, gateway: TemporalGateway, taskQueue: string): void {
  metrics.gauge('strata_temporal_up', 'Temporal reachable from the API (1) or not (0)', async () => [
    { labels: {}, value: (await gateway.readiness()).temporal ? 1 : 0 },
  ]);
  metrics.gauge('strata_workers_polling', 'Workers recently polling the task queue', async () => [
    { labels: { task_queue: taskQueue }, value: (await gateway.readiness()).workers },
  ]);
  metrics.gauge('strata_runs', 'Open stack runs by status (visibility count)', async () =>
    Promise.all(ACTIVE.map(async (status) => ({ labels: { status }, value: await gateway.runs.countOpen(status) }))),
  );
}
