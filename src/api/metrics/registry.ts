/**
 * A small Prometheus text-format registry: request counters and latency histograms per route, plus gauges
 * read at scrape time (runs by status from Temporal visibility). No dependency needed for this much.
 */
type Labels = Record<string, string>;

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function key(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

const braces = (k: string) => (k ? `{${k}}` : '');

export class MetricsRegistry {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly histograms = new Map<string, Map<string, { buckets: number[]; sum: number; count: number }>>();
  private readonly help = new Map<string, string>();
  private readonly gauges: {
    name: string;
    help: string;
    collect: () => Promise<{ labels: Labels; value: number }[]>;
  }[] = [];

  inc(name: string, help: string, labels: Labels, by = 1): void {
    this.help.set(name, help);
    const series = this.counters.get(name) ?? new Map<string, number>();
    this.counters.set(name, series);
    const k = key(labels);
    series.set(k, (series.get(k) ?? 0) + by);
  }

  observe(name: string, help: string, labels: Labels, seconds: number): void {
    this.help.set(name, help);
    const series = this.histograms.get(name) ?? new Map();
    this.histograms.set(name, series);
    const k = key(labels);
    const h = series.get(k) ?? { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.buckets[i]++;
    });
    h.sum += seconds;
    h.count++;
    series.set(k, h);
  }

  /** A gauge computed on every scrape. */
  gauge(name: string, help: string, collect: () => Promise<{ labels: Labels; value: number }[]>): void {
    this.gauges.push({ name, help, collect });
  }

  async render(): Promise<string> {
    const out: string[] = [];
    for (const [name, series] of this.counters) {
      out.push(`# HELP ${name} ${this.help.get(name)}`, `# TYPE ${name} counter`);
      for (const [k, v] of series) out.push(`${name}${braces(k)} ${v}`);
    }
    for (const [name, series] of this.histograms) {
      out.push(`# HELP ${name} ${this.help.get(name)}`, `# TYPE ${name} histogram`);
      for (const [k, h] of series) {
        const sep = k ? ',' : '';
        BUCKETS.forEach((b, i) => out.push(`${name}_bucket{${k}${sep}le="${b}"} ${h.buckets[i]}`));
        out.push(
          `${name}_bucket{${k}${sep}le="+Inf"} ${h.count}`,
          `${name}_sum${braces(k)} ${h.sum}`,
          `${name}_count${braces(k)} ${h.count}`,
        );
      }
    }
    for (const g of this.gauges) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      try {
        for (const s of await g.collect()) out.push(`${g.name}${braces(key(s.labels))} ${s.value}`);
      } catch {
        // Temporal unreachable: the gauge is simply absent from this scrape (strata_temporal_up says why).
      }
    }
    return out.join('\n') + '\n';
  }
}
