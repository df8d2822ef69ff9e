/**
 * Measuring one analysis window: the new version's error rate and latency from a metrics source (the
 * simulated service's own counters, or a Prometheus query API), plus HTTP probes, judged against the
 * step's thresholds. A source that cannot answer makes the verdict inconclusive, never a pass.
 */
import type { AnalysisRequest, AnalysisResult } from '../../contracts/rollout';
import { SIM_REQUESTS_PER_SECOND } from '../../contracts/rollout';
import { SIM_HEALTHY_LATENCY_MS, type SimService } from './simulated-traffic';

type Metrics = Pick<AnalysisResult, 'samples' | 'errorRate' | 'latencyMs' | 'source'> & { unavailable?: string };
type FetchFn = typeof fetch;

/** Share of simulated traffic an analysis sees at weight 0 (blue-green's preview traffic to green). */
const PREVIEW_WEIGHT = 5;
const PROBE_TIMEOUT_MS = 5_000;

/** What the simulated service's counters say about the new version over the window. */
export function simulatedMetrics(s: SimService, req: AnalysisRequest): Metrics {
  if (s.faults.metricsUnavailable)
    return { source: 'simulated', unavailable: 'simulated metrics source is unavailable (injected)' };
  const share = req.weight > 0 ? req.weight : PREVIEW_WEIGHT;
  const samples = Math.round((SIM_REQUESTS_PER_SECOND * (req.windowMs / 1000) * share) / 100);
  const faulty = req.weight >= (s.faults.fromWeight ?? 0);
  const rate = faulty ? (s.faults.errorRate ?? 0) : 0;
  const errors = Math.round(samples * rate);
  return {
    source: 'simulated',
    samples,
    errorRate: samples > 0 ? errors / samples : undefined,
    latencyMs: faulty ? (s.faults.latencyMs ?? SIM_HEALTHY_LATENCY_MS) : SIM_HEALTHY_LATENCY_MS,
  };
}

/** Prometheus instant queries (`/api/v1/query`); `$window` in a query becomes the window, e.g. `[60s]`. */
export async function prometheusMetrics(req: AnalysisRequest, fetchFn: FetchFn = fetch): Promise<Metrics> {
  const p = req.spec.prometheus!;
  const window = `${Math.max(1, Math.round(req.windowMs / 1000))}s`;
  const one = async (q: string | undefined): Promise<number | undefined> => {
    if (!q) return undefined;
    const url = `${p.url.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(q.replaceAll('$window', window))}`;
    const res = await fetchFn(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`Prometheus answered ${res.status}`);
    const body = (await res.json()) as { status: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success' || !body.data) throw new Error('Prometheus query did not succeed');
    const r = body.data.result;
    const value =
      body.data.resultType === 'scalar'
        ? (r as [number, string])[1]
        : (r as { value: [number, string] }[])[0]?.value[1];
    if (value === undefined) throw new Error(`no series for ${q}`);
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`${q} is ${value}`);
    return n;
  };
  try {
    return { source: 'prometheus', errorRate: await one(p.errorRateQuery), latencyMs: await one(p.latencyQuery) };
  } catch (err) {
    return { source: 'prometheus', unavailable: `Prometheus at ${p.url}: ${(err as Error).message}` };
  }
}

async function probe(
  url: string,
  expectStatus: number | undefined,
  fetchFn: FetchFn,
): Promise<AnalysisResult['probes'][number]> {
  try {
    const res = await fetchFn(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), redirect: 'manual' });
    await res.body?.cancel();
    const ok = expectStatus ? res.status === expectStatus : res.status >= 200 && res.status < 300;
    return { url, ok, status: res.status };
  } catch (err) {
    return { url, ok: false, error: (err as Error).message };
  }
}

const pct = (n: number) => `${(n * 100).toFixed(1)} %`;

/** The verdict: any threshold exceeded or probe failing → fail; a required measurement missing → inconclusive. */
export async function judge(
  req: AnalysisRequest,
  metrics: Metrics,
  startedAt: string,
  fetchFn: FetchFn = fetch,
): Promise<AnalysisResult> {
  const spec = req.spec;
  const probes = await Promise.all((spec.probes ?? []).map((p) => probe(p.url, p.expectStatus, fetchFn)));
  const fail: string[] = [];
  const unsure: string[] = [];
  const wantsMetrics = spec.maxErrorRate !== undefined || spec.maxLatencyMs !== undefined;
  const over = `${req.version} at ${req.weight} % over ${Math.round(req.windowMs / 1000)}s`;
  if (wantsMetrics && metrics.unavailable) unsure.push(metrics.unavailable);
  else if (wantsMetrics && metrics.samples !== undefined && metrics.samples < (spec.minSamples ?? 1)) {
    unsure.push(`only ${metrics.samples} requests of ${over} (need ${spec.minSamples ?? 1})`);
  } else {
    if (spec.maxErrorRate !== undefined) {
      if (metrics.errorRate === undefined) unsure.push('no error-rate measurement');
      else if (metrics.errorRate > spec.maxErrorRate)
        fail.push(`error rate ${pct(metrics.errorRate)} of ${over} exceeds ${pct(spec.maxErrorRate)}`);
    }
    if (spec.maxLatencyMs !== undefined) {
      if (metrics.latencyMs === undefined) unsure.push('no latency measurement');
      else if (metrics.latencyMs > spec.maxLatencyMs)
        fail.push(`latency ${metrics.latencyMs} ms of ${over} exceeds ${spec.maxLatencyMs} ms`);
    }
  }
  for (const p of probes) if (!p.ok) fail.push(`probe ${p.url} failed: ${p.error ?? `status ${p.status}`}`);
  return {
    verdict: fail.length ? 'fail' : unsure.length ? 'inconclusive' : 'pass',
    startedAt,
    completedAt: new Date().toISOString(),
    windowMs: req.windowMs,
    samples: metrics.samples,
    errorRate: metrics.errorRate,
    latencyMs: metrics.latencyMs,
    probes,
    source: metrics.source,
    reasons: [...fail, ...unsure],
  };
}
