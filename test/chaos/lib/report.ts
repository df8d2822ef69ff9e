/**
 * Trial results and the suite's one summary line:
 *   chaos: trials=N passed=P failed=F lost=L duplicated=D seed=S
 * Each failed trial is printed with what was injected where and which invariant broke, so it can be read
 * without the jest output and replayed with CHAOS_SEED=S (and CHAOS_ONLY=<group> for one group).
 */
import fs from 'node:fs';
import type { Violation } from './invariants';

/** One trial: one injected fault and the checks after it. */
export interface TrialResult {
  group: string;
  name: string;
  /** What was injected, when, and what was seen (e.g. `killed in applying after 830 ms`). */
  story: string[];
  violations: Violation[];
  /** Where the fault hit the run (its status at that moment), for the coverage line per group. */
  phase?: string;
  lost: number;
  duplicated: number;
  ms: number;
}

const results: TrialResult[] = [];
const skipped: { name: string; reason: string }[] = [];

export function record(r: TrialResult): TrialResult {
  results.push(r);
  const head = `chaos: ${r.violations.length ? 'FAIL' : 'ok  '} ${r.name} (${(r.ms / 1000).toFixed(1)} s) ${r.story.join('; ')}`;
  const lines = [head, ...r.violations.map((v) => `chaos:      ✗ ${v.invariant}: ${v.detail}`)];
  log(lines.join('\n'));
  return r;
}

export function recordSkipped(name: string, reason: string): void {
  skipped.push({ name, reason });
  log(`chaos: skip ${name}: ${reason}`);
}

export function groupResults(group: string): TrialResult[] {
  return results.filter((r) => r.group === group);
}

/** Violations of a group as readable lines, for the jest assertion. */
export function failuresOf(group: string): string[] {
  return groupResults(group).flatMap((r) => r.violations.map((v) => `${r.name}: ${v.invariant}: ${v.detail}`));
}

export function summaryLine(seed: number): string {
  const failed = results.filter((r) => r.violations.length > 0).length;
  const lost = results.reduce((n, r) => n + r.lost, 0);
  const duplicated = results.reduce((n, r) => n + r.duplicated, 0);
  return `chaos: trials=${results.length} passed=${results.length - failed} failed=${failed} lost=${lost} duplicated=${duplicated} seed=${seed}`;
}

/** Which invariants broke how often, per group: the overview under the summary line. */
export function breakdown(): string[] {
  const lines: string[] = [];
  const groups = [...new Set(results.map((r) => r.group))];
  for (const g of groups) {
    const rs = groupResults(g);
    const counts = new Map<string, number>();
    for (const r of rs)
      for (const inv of new Set(r.violations.map((v) => v.invariant))) counts.set(inv, (counts.get(inv) ?? 0) + 1);
    const broke = [...counts].map(([k, n]) => `${k}×${n}`).join(' ');
    const hit = new Map<string, number>();
    for (const r of rs) if (r.phase) hit.set(r.phase, (hit.get(r.phase) ?? 0) + 1);
    const where = [...hit].map(([k, n]) => `${k}×${n}`).join(' ');
    lines.push(
      `chaos:   ${g}: ${rs.filter((r) => !r.violations.length).length}/${rs.length} passed` +
        `${where ? `; hit in ${where}` : ''}${broke ? `; broke: ${broke}` : ''}`,
    );
  }
  for (const s of skipped) lines.push(`chaos:   skipped ${s.name}: ${s.reason}`);
  return lines;
}

/**
 * Straight to stderr (and CHAOS_REPORT's file when set): jest buffers console output per test, and the suite's
 * progress is worth seeing while it runs.
 */
export function log(text: string): void {
  process.stderr.write(`${text}\n`);
  if (process.env.CHAOS_REPORT) fs.appendFileSync(process.env.CHAOS_REPORT, `${text}\n`);
}
