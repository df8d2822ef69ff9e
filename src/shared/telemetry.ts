/**
 * Traces (OpenTelemetry): one trace runs from an HTTP request through the workflow it starts to each activity, via
 * @temporalio/interceptors-opentelemetry (client, workflow and activity interceptors carry the context in Temporal
 * headers). Off unless `telemetry.otlpEndpoint` names an OTLP/HTTP collector, or a test passes its own exporter.
 */
import { propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { StrataConfig } from './config';

/** What the API and the worker need to trace: the tracer, and for the worker the processor workflow spans go to. */
export interface Tracing {
  tracer: Tracer;
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** Sends what is buffered (tests call it before reading spans). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Installs the process's tracer provider (AsyncLocalStorage context, W3C trace context) when tracing is configured
 * or `exporter` is given; undefined otherwise, and then every span call is a no-op.
 */
export function startTracing(
  config: Pick<StrataConfig, 'telemetry'>,
  component: 'api' | 'worker',
  opts: { exporter?: SpanExporter; spanProcessor?: SpanProcessor } = {},
): Tracing | undefined {
  const endpoint = config.telemetry.otlpEndpoint;
  if (!endpoint && !opts.exporter && !opts.spanProcessor) return undefined;
  const resource = new Resource({
    'service.name': config.telemetry.serviceName ?? 'strata',
    'service.namespace': 'strata',
    'strata.component': component,
  });
  const spanProcessor =
    opts.spanProcessor ?? new BatchSpanProcessor(opts.exporter ?? new OTLPTraceExporter({ url: endpoint }));
  const provider = new NodeTracerProvider({ resource });
  provider.addSpanProcessor(spanProcessor);
  provider.register();
  return {
    tracer: trace.getTracer('strata', '1'),
    resource,
    spanProcessor,
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
    },
  };
}
