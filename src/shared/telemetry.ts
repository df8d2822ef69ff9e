/**
 * Traces (OpenTelemetry): one trace runs from an HTTP request through the workflow it starts to each activity, via
 * @temporalio/interceptors-opentelemetry (client, workflow and activity interceptors carry the context in Temporal
 * headers). Off unless `telemetry.otlpEndpoint` names an OTLP/HTTP collector, or a test passes its own exporter.
 */
import { propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
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

/** How a traced tool invocation ended, for its span. */
export interface ToolOutcome {
  exitCode: number | null;
  signal?: string | null;
  interrupted?: boolean;
  /** Left running for a later attempt (a worker shutdown during an apply). */
  detached?: boolean;
}

/**
 * One span per external tool invocation (tofu init/plan/show/apply, a CDKTF synth, helm), a child of whatever span is
 * active (the activity's): `tool <name> <subcommand>`, with the exit code and duration. Only the subcommand is
 * recorded, never the arguments, which can carry variable values and secrets. A no-op while tracing is off.
 */
export async function traceTool<T>(
  tool: string,
  subcommand: string,
  run: () => Promise<T>,
  outcome: (result: T) => ToolOutcome,
): Promise<T> {
  const started = Date.now();
  return trace
    .getTracer('strata')
    .startActiveSpan(
      `tool ${tool} ${subcommand}`,
      { kind: SpanKind.INTERNAL, attributes: { 'strata.tool.name': tool, 'strata.tool.subcommand': subcommand } },
      async (span) => {
        try {
          const result = await run();
          const o = outcome(result);
          span.setAttributes({
            ...(o.exitCode !== null ? { 'strata.tool.exit_code': o.exitCode } : {}),
            ...(o.signal ? { 'strata.tool.signal': o.signal } : {}),
            ...(o.interrupted ? { 'strata.tool.interrupted': true } : {}),
            ...(o.detached ? { 'strata.tool.detached': true } : {}),
          });
          if (o.exitCode !== 0 && !o.detached)
            span.setStatus({
              code: SpanStatusCode.ERROR,
              message: `${tool} ${subcommand} exited ${o.exitCode ?? o.signal}`,
            });
          return result;
        } catch (err) {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.setAttribute('strata.tool.duration_ms', Date.now() - started);
          span.end();
        }
      },
    );
}
