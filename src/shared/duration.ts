/** Parses durations as written in strata.yaml ("90s", "15m", "24h", "7d", "1h30m") into milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) {
    throw new Error(`invalid duration "${text}": use a number with a unit, e.g. 30s, 15m, 24h, 7d`);
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  for (const m of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(m[1]) * units[m[2]];
  }
  return Math.round(total);
}
