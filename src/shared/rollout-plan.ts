/**
 * A strategy turned into the steps a rollout walks through: for each, the new version's traffic weight and
 * instances, stable's instances, the pause and the analysis (durations in ms). Pure, so the workflow computes
 * it deterministically once it knows stable's capacity. Safe to import from workflow code.
 */
import type { AnalysisSpec, RolloutStrategy } from '../contracts/rollout-strategy';
import { parseDuration } from './duration';

/** An analysis window when the strategy names none. */
export const DEFAULT_ANALYSIS_WINDOW_MS = 60_000;

export interface PlannedStep {
  weight: number;
  candidateCapacity: number;
  stableCapacity: number;
  pauseMs?: number;
  /** Wait for a promote before going on (blue-green without autoPromote). */
  manualGate?: boolean;
  analysis?: { spec: AnalysisSpec; windowMs: number };
}

const analysisOf = (spec: AnalysisSpec | undefined) =>
  spec ? { spec, windowMs: spec.window ? parseDuration(spec.window) : DEFAULT_ANALYSIS_WINDOW_MS } : undefined;

/**
 * The steps of `strategy` when the new version runs `capacity` instances at full traffic and stable runs
 * `stableCapacity` today (rolling replaces instances one for one, so it uses `capacity` for both).
 */
export function planRollout(strategy: RolloutStrategy, capacity: number, stableCapacity = capacity): PlannedStep[] {
  const full = Math.max(1, capacity);
  const stable = Math.max(1, stableCapacity);
  switch (strategy.type) {
    case 'canary':
      // Stable keeps all its instances until the end: an abort at any step needs no scale-up first.
      return strategy.steps.map((s) => ({
        weight: s.weight,
        candidateCapacity: Math.min(full, Math.max(1, Math.ceil((full * s.weight) / 100))),
        stableCapacity: stable,
        pauseMs: s.pause ? parseDuration(s.pause) : undefined,
        analysis: analysisOf(s.analysis),
      }));
    case 'blueGreen':
      return [
        // Green at full size with no traffic: analysed (preview traffic), then promoted by hand or automatically.
        {
          weight: 0,
          candidateCapacity: full,
          stableCapacity: stable,
          manualGate: !strategy.autoPromote,
          analysis: analysisOf(strategy.prePromotionAnalysis),
        },
        // Blue keeps its instances through the scale-down delay, so an abort switches back at once.
        {
          weight: 100,
          candidateCapacity: full,
          stableCapacity: stable,
          pauseMs: parseDuration(strategy.scaleDownDelay),
        },
      ];
    case 'rolling': {
      const batch = strategy.batchSize ?? Math.max(1, Math.ceil((full * strategy.batchPercent!) / 100));
      const steps: PlannedStep[] = [];
      for (let done = Math.min(batch, full); ; done = Math.min(done + batch, full)) {
        const last = done >= full;
        steps.push({
          weight: Math.round((100 * done) / full),
          candidateCapacity: done,
          stableCapacity: full - done,
          pauseMs: last ? undefined : parseDuration(strategy.pauseBetween),
          analysis: analysisOf(strategy.analysis),
        });
        if (last) return steps;
      }
    }
  }
}
