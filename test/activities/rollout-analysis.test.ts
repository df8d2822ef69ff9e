/**
 * The analysis activity's verdicts: the simulated service's counters with injected faults, a Prometheus query
 * API (a local HTTP server speaking its documented response format, since no Prometheus runs here) and HTTP
 * probes. A source that cannot answer is inconclusive, never a pass.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRolloutActivities, seedSimulatedService, SimulatedTrafficStore } from '../../src/activities/rollout';
import type { AnalysisRequest } from '../../src/contracts/rollout';

describe('rollout analysis', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-analysis-'));
  const acts = createRolloutActivities({ simulated: { dataDir: dir } });
  const store = new SimulatedTrafficStore(dir);
  let server: http.Server;
  let base = '';
  const queries: string[] = [];
  let promValues: Record<string, string | undefined> = {};

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/healthz') return void res.writeHead(200).end('ok');
      if (url.pathname === '/broken') return void res.writeHead(503).end('down');
      if (url.pathname === '/api/v1/query') {
        const q = url.searchParams.get('query')!;
        queries.push(q);
        const v = promValues[q];
        res.setHeader('content-type', 'application/json');
        return void res.end(
          JSON.stringify({
            status: 'success',
            data: { resultType: 'vector', result: v === undefined ? [] : [{ metric: {}, value: [1700000000, v] }] },
          }),
        );
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const request = (service: string, spec: AnalysisRequest['spec'], weight = 50): AnalysisRequest => ({
    service,
    provider: 'simulated',
    rolloutId: 'r1',
    version: 'v2',
    weight,
    windowMs: 60_000,
    windowStartedAt: new Date().toISOString(),
    spec,
  });

  test('simulated: an error rate injected from 50 % fails at 50 % but not at 10 %, naming measurement and threshold', async () => {
    await seedSimulatedService(store, 'api', { version: 'v1', capacity: 4 }, { errorRate: 0.2, fromWeight: 50 });
    const at10 = await acts.rolloutMeasure(request('api', { maxErrorRate: 0.05 }, 10));
    expect(at10).toMatchObject({ verdict: 'pass', samples: 120, errorRate: 0 });
    const at50 = await acts.rolloutMeasure(request('api', { maxErrorRate: 0.05 }));
    expect(at50).toMatchObject({ verdict: 'fail', samples: 600, errorRate: 0.2, source: 'simulated' });
    expect(at50.reasons).toEqual(['error rate 20.0 % of v2 at 50 % over 60s exceeds 5.0 %']);
  });

  test('simulated: injected latency fails a latency threshold; too few requests is inconclusive', async () => {
    await seedSimulatedService(store, 'slow', { version: 'v1', capacity: 4 }, { latencyMs: 900 });
    expect((await acts.rolloutMeasure(request('slow', { maxLatencyMs: 300 }))).reasons).toEqual([
      'latency 900 ms of v2 at 50 % over 60s exceeds 300 ms',
    ]);
    const few = await acts.rolloutMeasure(request('slow', { maxErrorRate: 0.05, minSamples: 10_000 }));
    expect(few).toMatchObject({ verdict: 'inconclusive' });
    expect(few.reasons[0]).toMatch(/only 600 requests/);
  });

  test('Prometheus: queries get the window, values are judged; an empty result or an unreachable server is inconclusive', async () => {
    const errQ = 'sum(rate(http_errors{version="v2"}[$window])) / sum(rate(http_requests{version="v2"}[$window]))';
    const latQ = 'histogram_quantile(0.99, rate(latency_ms_bucket{version="v2"}[$window]))';
    const windowed = (q: string) => q.replaceAll('$window', '60s');
    promValues = { [windowed(errQ)]: '0.01', [windowed(latQ)]: '120' };
    const spec = {
      maxErrorRate: 0.05,
      maxLatencyMs: 200,
      prometheus: { url: base, errorRateQuery: errQ, latencyQuery: latQ },
    };
    expect(await acts.rolloutMeasure(request('api', spec))).toMatchObject({
      verdict: 'pass',
      source: 'prometheus',
      errorRate: 0.01,
      latencyMs: 120,
    });
    expect(queries).toContain(windowed(errQ));
    promValues = { [windowed(errQ)]: '0.09', [windowed(latQ)]: '120' };
    expect((await acts.rolloutMeasure(request('api', spec))).verdict).toBe('fail');
    promValues = {};
    const empty = await acts.rolloutMeasure(request('api', spec));
    expect(empty.verdict).toBe('inconclusive');
    expect(empty.reasons[0]).toMatch(/no series for/);
    const down = await acts.rolloutMeasure(
      request('api', { ...spec, prometheus: { ...spec.prometheus, url: 'http://127.0.0.1:1' } }),
    );
    expect(down.verdict).toBe('inconclusive');
  });

  test('HTTP probes: a failing probe fails the analysis, with its status', async () => {
    await seedSimulatedService(store, 'web', { version: 'v1', capacity: 2 });
    const ok = await acts.rolloutMeasure(request('web', { probes: [{ url: `${base}/healthz` }] }));
    expect(ok).toMatchObject({ verdict: 'pass', probes: [{ url: `${base}/healthz`, ok: true, status: 200 }] });
    const bad = await acts.rolloutMeasure(
      request('web', { probes: [{ url: `${base}/healthz` }, { url: `${base}/broken` }] }),
    );
    expect(bad.verdict).toBe('fail');
    expect(bad.reasons).toEqual([`probe ${base}/broken failed: status 503`]);
  });
});
