/**
 * One trace from the HTTP request through the workflow it starts to each activity: the API's server span, the
 * client interceptor's StartWorkflow span, the workflow's RunWorkflow span (exported from the workflow sandbox
 * through a sink), a StartActivity/RunActivity pair per activity and, under an activity that runs OpenTofu, a span
 * per tofu invocation, all with one trace id and a parent chain back to the request. Spans are collected in memory
 * instead of an OTLP collector.
 */
import { Client } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createApp } from '../../src/api/app';
import { startTracing, type Tracing } from '../../src/shared/telemetry';
import { createStrataWorker } from '../../src/worker/create-worker';
import { api } from '../helpers/api-client';
import { runWorker, startTemporal, testConfig, type RunningWorker } from '../helpers/temporal';

const config = testConfig();

/** The names of a span's ancestors among `spans`, nearest first. */
function ancestryIn(spans: ReadableSpan[]): (s: ReadableSpan) => string[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  return (s) => {
    const names: string[] = [];
    for (
      let p = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      p;
      p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined
    )
      names.push(p.name);
    return names;
  };
}

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker;
  let http: ReturnType<typeof api>;

  beforeAll(async () => {
    tracing = startTracing(config, 'worker', { spanProcessor: new SimpleSpanProcessor(exporter) })!;
    env = await startTemporal();
    // The shared test bundle has no tracing interceptors: bundle once more with them, as Worker.create does
    // when it bundles with the plugin.
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../src/workflows'),
      workflowInterceptorModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    });
    worker = runWorker(
      await createStrataWorker({
        connection: env.nativeConnection,
        client: env.client,
        config,
        workflowBundle: { code },
        tracing,
        shutdownGraceTime: '5s',
      }),
    );
    const client = new Client({
      connection: env.connection,
      namespace: 'default',
      interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    });
    http = api(createApp({ temporal: { client }, config }));
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
    await tracing?.shutdown();
  });

  it('links the request, the workflow and every activity of a deployment in one trace', async () => {
    const id = await http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 2 },
    });
    await http.waitFor(id, ['succeeded']);
    // `succeeded` shows before the workflow has returned (the lock's release comes last): its span ends then.
    await http.get('alice', `/api/v1/deployments/${id}?wait=60`);
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    const request = spans.find((s) => s.name === 'POST /api/v1/deployments/');
    expect(request).toBeDefined();
    const traceId = request!.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const ancestry = ancestryIn(inTrace);

    const start = inTrace.find((s) => s.name === 'StartWorkflow:deploymentWorkflow');
    expect(start?.parentSpanId).toBe(request!.spanContext().spanId);
    const run = inTrace.find((s) => s.name === 'RunWorkflow:deploymentWorkflow');
    expect(run).toBeDefined();
    expect(ancestry(run!)).toEqual(['StartWorkflow:deploymentWorkflow', 'POST /api/v1/deployments/']);

    const activities = inTrace.filter((s) => s.name.startsWith('RunActivity:'));
    expect(activities.length).toBeGreaterThanOrEqual(3);
    for (const a of activities) {
      const chain = ancestry(a);
      expect(chain[0]).toBe(a.name.replace('RunActivity:', 'StartActivity:'));
      expect(chain).toContain('RunWorkflow:deploymentWorkflow');
      expect(chain[chain.length - 1]).toBe('POST /api/v1/deployments/');
    }
    // The plan and the apply are among them (the names the workflow proxies).
    const names = activities.map((a) => a.name);
    expect(names.some((n) => /plan/i.test(n))).toBe(true);
    expect(names.some((n) => /apply/i.test(n))).toBe(true);
    expect(request!.attributes['http.response.status_code']).toBe(202);
  });
  it('puts a span per OpenTofu invocation under the activity that runs it, with no arguments in it', async () => {
    exporter.reset();
    const id = await http.deploy('alice', { stack: 'hello-local', environment: 'dev' });
    await http.waitFor(id, ['succeeded'], 120_000);
    await http.get('alice', `/api/v1/deployments/${id}?wait=60`);
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    const request = spans.find((s) => s.name === 'POST /api/v1/deployments/');
    expect(request).toBeDefined();
    const inTrace = spans.filter((s) => s.spanContext().traceId === request!.spanContext().traceId);
    const ancestry = ancestryIn(inTrace);
    const tools = inTrace.filter((s) => s.name.startsWith('tool '));
    const names = tools.map((s) => s.name);
    // No `show`: the plan's summary comes from its own -json stream (a plan someone must approve also gets one).
    for (const sub of ['init', 'plan', 'apply']) expect(names).toContain(`tool tofu ${sub}`);

    const plan = tools.find((s) => s.name === 'tool tofu plan')!;
    const chain = ancestry(plan);
    expect(chain[0]).toMatch(/^RunActivity:/);
    expect(chain[1]).toBe(chain[0].replace('RunActivity:', 'StartActivity:'));
    expect(chain.slice(-3)).toEqual([
      'RunWorkflow:deploymentWorkflow',
      'StartWorkflow:deploymentWorkflow',
      'POST /api/v1/deployments/',
    ]);
    expect(ancestry(tools.find((s) => s.name === 'tool tofu apply')!)[0]).toBe('RunActivity:applyRun');
    for (const t of tools) {
      expect(t.attributes['strata.tool.name']).toBe('tofu');
      expect(t.attributes['strata.tool.exit_code']).toBe(0);
      expect(typeof t.attributes['strata.tool.duration_ms']).toBe('number');
      // Only names: no argument (a plan file, a -var, a flag) reaches the span.
      const text = JSON.stringify(t.attributes);
      expect(text).not.toMatch(/-no-color|-input|\.tfplan|TF_VAR|strata_data_dir/);
      expect(Object.keys(t.attributes).sort()).toEqual([
        'strata.tool.duration_ms',
        'strata.tool.exit_code',
        'strata.tool.name',
        'strata.tool.subcommand',
      ]);
    }
  });
});
