/**
 * Progressive-delivery strategies as a caller writes them (API bodies, strata.yaml), validated with zod so a
 * bad strategy is a 400 naming the field before anything starts. Durations stay text here ("10m"); the
 * workflow turns them into milliseconds (src/shared/rollout-plan.ts). Not imported by workflow code at run
 * time (zod stays out of the workflow bundle): workflows import only its types.
 */
import { z } from 'zod';

/** Same grammar as src/shared/duration.ts; checked here so the 400 names the field. */
const duration = z
  .string()
  .max(32)
  .regex(/^(\d+(\.\d+)?(ms|s|m|h|d))+$/, 'a duration with a unit, e.g. 30s, 10m, 2h');

const probe = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).max(2000),
  /** Status the probe expects (default: any 2xx). */
  expectStatus: z.number().int().min(100).max(599).optional(),
});

const prometheus = z.strictObject({
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090. */
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).max(2000),
  /** PromQL giving the new version's error ratio (0..1) over the window; `$window` is replaced by it. */
  errorRateQuery: z.string().min(1).max(2000).optional(),
  /** PromQL giving the new version's latency in milliseconds over the window. */
  latencyQuery: z.string().min(1).max(2000).optional(),
});

/** Health analysis over one step's window: HTTP probes and error-rate/latency thresholds from a metrics source. */
export const analysisSchema = z
  .strictObject({
    /** How long traffic is observed before the verdict (default 1m). */
    window: duration.optional(),
    /** Highest acceptable error ratio of the new version, 0..1. */
    maxErrorRate: z.number().min(0).max(1).optional(),
    /** Highest acceptable latency of the new version, in milliseconds. */
    maxLatencyMs: z.number().positive().optional(),
    /** Fewer requests than this in the window is inconclusive (default 1). */
    minSamples: z.number().int().min(1).max(1_000_000).optional(),
    probes: z.array(probe).max(10).optional(),
    /** Where metrics come from: the provider's own (simulated cloud) unless a Prometheus is named. */
    prometheus: prometheus.optional(),
  })
  .refine((a) => a.maxErrorRate !== undefined || a.maxLatencyMs !== undefined || (a.probes?.length ?? 0) > 0, {
    message: 'analysis needs at least one of maxErrorRate, maxLatencyMs or probes',
  })
  // The same rule for /openapi.json (JSON Schema cannot see a refine), so a schema-valid body is an accepted one.
  .meta({
    anyOf: [
      { required: ['maxErrorRate'] },
      { required: ['maxLatencyMs'] },
      { required: ['probes'], properties: { probes: { minItems: 1 } } },
    ],
  });

const canaryStep = z.strictObject({
  /** Percent of traffic on the new version once this step is reached. */
  weight: z.number().int().min(1).max(100),
  /** How long to hold this weight before the next step (absent: go on after the analysis). */
  pause: duration.optional(),
  analysis: analysisSchema.optional(),
});

const canary = z.strictObject({
  type: z.literal('canary'),
  steps: z
    .array(canaryStep)
    .min(1)
    .max(20)
    .superRefine((steps, ctx) => {
      steps.forEach((s, i) => {
        if (i > 0 && s.weight <= steps[i - 1].weight) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'weight'],
            message: `weights must rise step by step: ${s.weight} follows ${steps[i - 1].weight}`,
          });
        }
      });
      if (steps.length && steps[steps.length - 1].weight !== 100) {
        ctx.addIssue({
          code: 'custom',
          path: [steps.length - 1, 'weight'],
          message: `the last step must send 100 % of traffic to the new version, not ${steps[steps.length - 1].weight}`,
        });
      }
    }),
});

const blueGreen = z.strictObject({
  type: z.literal('blueGreen'),
  /** Runs against the green version before it takes any traffic. */
  prePromotionAnalysis: analysisSchema.optional(),
  /** Switch traffic as soon as green is ready (and its analysis passed); otherwise wait for a promote. */
  autoPromote: z.boolean().optional(),
  /** How long blue keeps its capacity after the switch, so an abort can still switch back at once. */
  scaleDownDelay: duration,
});

const rolling = z
  .strictObject({
    type: z.literal('rolling'),
    /** Instances replaced per batch. */
    batchSize: z.number().int().min(1).max(10_000).optional(),
    /** Percent of the instances replaced per batch. */
    batchPercent: z.number().int().min(1).max(100).optional(),
    pauseBetween: duration,
    analysis: analysisSchema.optional(),
  })
  .refine((r) => (r.batchSize === undefined) !== (r.batchPercent === undefined), {
    message: 'rolling needs exactly one of batchSize or batchPercent',
    path: ['batchSize'],
  })
  .meta({ oneOf: [{ required: ['batchSize'] }, { required: ['batchPercent'] }] });

/** A strategy, discriminated by `type`. */
export const rolloutStrategySchema = z.discriminatedUnion('type', [canary, blueGreen, rolling]);

export type RolloutStrategy = z.infer<typeof rolloutStrategySchema>;
export type AnalysisSpec = z.infer<typeof analysisSchema>;
export type CanaryStrategy = z.infer<typeof canary>;
export type BlueGreenStrategy = z.infer<typeof blueGreen>;
export type RollingStrategy = z.infer<typeof rolling>;
