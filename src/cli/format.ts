/** Human output of the CLI: aligned tables, short times, a progress bar. `--json` bypasses all of it. */

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `2026-11-22 10:04:05` (UTC) from an ISO timestamp. */
export function shortTime(iso?: string): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '';
}

/** `[██████░░░░] 3/5 resources applied` */
export function progressBar(done: number, total: number, width = 24): string {
  const t = Math.max(total, 1);
  const filled = Math.round((Math.min(done, t) / t) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} resources applied`;
}

/** Seconds with one decimal, or a dash. */
export function seconds(s?: number): string {
  return s === undefined ? '—' : `${s.toFixed(1)} s`;
}
