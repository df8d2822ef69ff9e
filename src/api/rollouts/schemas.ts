/** zod schemas of the rollout routes: request validation, response types and /openapi.json in one place. */
import { z } from 'zod';
import { ROLLOUT_STATUSES, type Rollout } from '../../contracts/rollout';
import { rolloutStrategySchema } from '../../contracts/rollout-strategy';
import { freeText, opaqueKey, resourceName, type Same } from '../schemas';

const awsName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._:/-]+$/, 'letters, digits, dots, dashes, colons, slashes');
const colour = z.strictObject({ asg: awsName, setIdentifier: awsName });

/** Blue (stable) and green (new): an Auto Scaling group each and a weighted Route53 record in one name. */
export const awsTargetSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region, e.g. us-east-1'),
  hostedZone: awsName,
  recordName: awsName,
  blue: colour,
  green: colour,
});

export const createRolloutBody = z
  .strictObject({
    /** The service whose traffic moves (a simulated service is created on first use with v0 on 4 instances). */
    service: resourceName,
    provider: z.enum(['simulated', 'aws']).default('simulated'),
    /** Required with provider aws. */
    aws: awsTargetSchema.optional(),
    version: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'a version label: letters, digits, dots, dashes, plus'),
    /** Instances of the new version at full traffic (default: stable's). */
    capacity: z.number().int().min(1).max(10_000).optional(),
    strategy: rolloutStrategySchema,
    reason: freeText().optional(),
    /** The same key always names the same rollout: a retried request starts nothing new. */
    idempotencyKey: opaqueKey.optional(),
  })
  .refine((b) => (b.provider === 'aws') === (b.aws !== undefined), {
    message: 'aws names the Auto Scaling groups and records of provider aws, and only of it',
    path: ['aws'],
  })
  // The same rule for /openapi.json (JSON Schema cannot see a refine).
  .meta({
    oneOf: [
      { required: ['provider', 'aws'], properties: { provider: { enum: ['aws'] } } },
      { not: { required: ['aws'] }, properties: { provider: { enum: ['simulated'] } } },
    ],
  });

export const rolloutIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,150}$/, 'invalid rollout id') });
export const rolloutActionBody = z.strictObject({ reason: freeText().optional() });

const analysis = z.object({
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  startedAt: z.string(),
  completedAt: z.string(),
  windowMs: z.number(),
  samples: z.number().optional(),
  errorRate: z.number().optional(),
  latencyMs: z.number().optional(),
  probes: z.array(
    z.object({ url: z.string(), ok: z.boolean(), status: z.number().optional(), error: z.string().optional() }),
  ),
  source: z.enum(['simulated', 'prometheus']),
  reasons: z.array(z.string()),
});

/** The `Rollout` of src/contracts/rollout.ts, field for field. */
export const rolloutSchema = z.object({
  id: z.string(),
  service: z.string(),
  version: z.string(),
  stableVersion: z.string().optional(),
  strategy: z.enum(['canary', 'blueGreen', 'rolling']),
  status: z.enum(ROLLOUT_STATUSES),
  currentStep: z.number(),
  weight: z.number(),
  paused: z.boolean(),
  promoted: z.boolean(),
  steps: z.array(
    z.object({
      index: z.number(),
      weight: z.number(),
      canaryCapacity: z.number(),
      pauseMs: z.number().optional(),
      manualGate: z.boolean().optional(),
      status: z.enum(['pending', 'running', 'paused', 'analyzing', 'succeeded', 'failed', 'skipped_pause', 'aborted']),
      startedAt: z.string().optional(),
      weightSetAt: z.string().optional(),
      pauseEndsAt: z.string().optional(),
      completedAt: z.string().optional(),
      analysis: analysis.optional(),
    }),
  ),
  events: z.array(
    z.object({
      at: z.string(),
      kind: z.enum([
        'promote',
        'pause',
        'resume',
        'abort',
        'auto_abort',
        'step',
        'analysis',
        'completed',
        'rolled_back',
      ]),
      by: z.string().optional(),
      via: z.string().optional(),
      step: z.number().optional(),
      weight: z.number().optional(),
      detail: z.string().optional(),
    }),
  ),
  requestedBy: z.string(),
  startedAt: z.string(),
  completedAt: z.string().optional(),
  abort: z
    .object({ by: z.string(), at: z.string(), reason: z.string(), step: z.number(), analysis: analysis.optional() })
    .optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
}) satisfies z.ZodType<Rollout>;
const _rollout: Same<z.infer<typeof rolloutSchema>, Rollout> = true;

export const createdRolloutSchema = z.object({
  id: z.string(),
  created: z.boolean(),
  links: z.record(z.string(), z.string()),
});
