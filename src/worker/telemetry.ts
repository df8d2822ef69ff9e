/**
 * The worker's observability: its Temporal SDK metrics (task slots, pollers, latencies, `temporal_*`) served for
 * Prometheus on an address of its own (`telemetry.workerMetricsAddress`), and the OpenTelemetry plugin that traces
 * workflows and activities when tracing is on. Both are off by default.
 */
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import { makeTelemetryFilterString, type RuntimeOptions } from '@temporalio/worker';
import type { StrataConfig } from '../shared/config';
import type { Tracing } from '../shared/telemetry';

/** Runtime.install options: core logs at WARN, and the Prometheus endpoint when configured. */
export function workerRuntimeOptions(config: Pick<StrataConfig, 'telemetry'>): RuntimeOptions {
  const bindAddress = config.telemetry.workerMetricsAddress;
  return {
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(bindAddress ? { metrics: { prometheus: { bindAddress } } } : {}),
    },
  };
}

/** The worker plugin that adds workflow and activity interceptors and ships workflow spans through a sink. */
export function tracingPlugin(tracing: Tracing): OpenTelemetryPlugin {
  return new OpenTelemetryPlugin({
    resource: tracing.resource,
    spanProcessor: tracing.spanProcessor,
    tracer: tracing.tracer,
  });
}
