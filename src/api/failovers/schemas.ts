/** zod schemas of the failover routes: request validation, response types and /openapi.json in one place. */
import { z } from 'zod';
import { FAILOVER_STAGES, FAILOVER_STATUSES } from '../../contracts/failover';

const side = z.enum(['primary', 'secondary']);
const stageName = z.enum(FAILOVER_STAGES);
const error = z.object({ code: z.string(), message: z.string() });

export const createFailoverBody = z.strictObject({
  group: z.string().min(1).max(100),
  mode: z.enum(['planned', 'emergency']),
  dryRun: z.boolean().optional(),
  reason: z.string().max(2000).optional(),
  /** Default: the side that is not active now. */
  to: side.optional(),
  /** Demos and drills: fail this stage (its last step unless `step` is given) non-retryably. */
  injectFailure: z.strictObject({ stage: stageName, step: z.string().max(100).optional() }).optional(),
});

export const failoverIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,150}$/, 'invalid failover id') });
export const groupParams = z.object({ group: z.string().min(1).max(100) });

export const listFailoversQuery = z.object({
  group: z.string().min(1).max(100).optional(),
  status: z.enum(FAILOVER_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(20),
});

export const approveFailoverBody = z.strictObject({ comment: z.string().max(2000).optional() });
export const rejectFailoverBody = z.strictObject({ reason: z.string().max(2000).optional() });

const stage = z.object({
  name: stageName,
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped']),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  durationMs: z.number().optional(),
  bestEffort: z.boolean().optional(),
  error: error.optional(),
  steps: z.array(
    z.object({
      name: z.string(),
      status: z.string(),
      startedAt: z.string(),
      completedAt: z.string().optional(),
      detail: z.string().optional(),
      error: error.optional(),
    }),
  ),
});

export const failoverSchema = z.object({
  id: z.string(),
  group: z.string(),
  from: side.optional(),
  to: side.optional(),
  fromRegion: z.string().optional(),
  toRegion: z.string().optional(),
  mode: z.enum(['planned', 'emergency']),
  dryRun: z.boolean(),
  status: z.enum(FAILOVER_STATUSES),
  trigger: z.enum(['api', 'monitor', 'cli']),
  requestedBy: z.string(),
  reason: z.string().optional(),
  decidedAt: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().optional(),
  stages: z.array(stage),
  rtoSeconds: z.number().optional(),
  rpoSeconds: z.number().optional(),
  rpoSource: z.enum(['reported', 'checkpoint', 'unknown']).optional(),
  epoch: z.number().optional(),
  readiness: z.array(
    z.object({ name: z.string(), ok: z.boolean(), side: side.optional(), detail: z.string().optional() }),
  ),
  plan: z.array(z.object({ stage: stageName, step: z.string(), side: side.optional(), description: z.string() })),
  compensations: z.array(
    z.object({
      name: z.string(),
      stage: stageName,
      status: z.enum(['succeeded', 'failed', 'manual']),
      startedAt: z.string(),
      completedAt: z.string().optional(),
      detail: z.string().optional(),
      error: error.optional(),
    }),
  ),
  approvals: z.array(z.object({ by: z.string(), at: z.string(), comment: z.string().optional() })),
  approvalsRequired: z.number(),
  error: error.optional(),
  manualSteps: z.array(z.string()).optional(),
  events: z.array(z.object({ ts: z.string(), level: z.string(), message: z.string() })),
});

export const createdFailoverSchema = z.object({
  id: z.string(),
  status: z.enum(FAILOVER_STATUSES),
  group: z.string(),
  links: z.record(z.string(), z.string()),
});

export const monitorSchema = z.object({
  group: z.string(),
  running: z.boolean(),
  status: z.string().optional(),
  probes: z.number().optional(),
  consecutiveFailures: z.number().optional(),
  armed: z.boolean().optional(),
  lastProbe: z.object({ at: z.string(), healthy: z.boolean(), detail: z.string() }).optional(),
  triggered: z
    .array(z.object({ failoverId: z.string(), workflowId: z.string(), at: z.string(), afterFailures: z.number() }))
    .optional(),
});
