/** zod schemas of the failover routes: request validation, response types and /openapi.json in one place. */
import { z } from 'zod';
import { FAILOVER_STAGES, FAILOVER_STATUSES, type Failover } from '../../contracts/failover';
import type { FailoverMonitorState } from '../../contracts/monitor';
import { approvalSchema, refusedDecisionSchema, rejectionSchema } from '../deployments/schemas';
import { freeText, groupName, limit, type Same } from '../schemas';

const side = z.enum(['primary', 'secondary']);
const stageName = z.enum(FAILOVER_STAGES);
const error = z.object({ code: z.string(), message: z.string() });

/** A configured failover group: the document lists them, and any other name is a 400 that names the known ones. */
export function knownGroup(groups: string[]) {
  if (!groups.length) return groupName;
  return z.enum(groups as [string, ...string[]], {
    error: (iss) => `unknown failover group ${JSON.stringify(iss.input)} (known: ${groups.join(', ')})`,
  });
}

export function createFailoverBody(groups: string[]) {
  return z.strictObject({
    group: knownGroup(groups),
    mode: z.enum(['planned', 'emergency']),
    dryRun: z.boolean().optional(),
    reason: freeText().optional(),
    /** Default: the side that is not active now. */
    to: side.optional(),
    /** Demos and drills: fail this stage (its last step unless `step` is given) non-retryably. */
    injectFailure: z
      .strictObject({
        stage: stageName,
        step: z
          .string()
          .max(100)
          .regex(/^[a-z_]+$/, 'a step name')
          .optional(),
      })
      .optional(),
  });
}

export const failoverIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,150}$/, 'invalid failover id') });
export const groupParams = (groups: string[]) => z.object({ group: knownGroup(groups) });

export const listFailoversQuery = z.object({
  // Any well-formed name: a filter on a group that does not exist just lists nothing.
  group: groupName.optional(),
  status: z.enum(FAILOVER_STATUSES).optional(),
  limit: limit(200, 20),
});

export const approveFailoverBody = z.strictObject({ comment: freeText().optional() });
export const rejectFailoverBody = z.strictObject({ reason: freeText().optional() });

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
      status: z.enum(['running', 'succeeded', 'failed']),
      startedAt: z.string(),
      completedAt: z.string().optional(),
      detail: z.string().optional(),
      error: error.optional(),
    }),
  ),
});

/** The `Failover` of src/contracts/failover.ts, field for field. */
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
  approvals: z.array(approvalSchema),
  approvalsRequired: z.number(),
  rejection: rejectionSchema.optional(),
  refusedDecisions: z.array(refusedDecisionSchema).optional(),
  approvalExpiresAt: z.string().optional(),
  error: error.optional(),
  manualSteps: z.array(z.string()).optional(),
  events: z.array(z.object({ ts: z.string(), level: z.enum(['info', 'warn', 'error']), message: z.string() })),
}) satisfies z.ZodType<Failover>;
const _failover: Same<z.infer<typeof failoverSchema>, Failover> = true;

export const failoverListSchema = z.object({ items: z.array(failoverSchema) });

export const createdFailoverSchema = z.object({
  id: z.string(),
  status: z.enum(FAILOVER_STATUSES),
  group: z.string(),
  links: z.record(z.string(), z.string()),
});

const probe = z.object({ at: z.string(), healthy: z.boolean(), detail: z.string() });

/** A group's monitor: `running`, and the monitor's state (src/contracts/monitor.ts) while it runs. */
export const monitorSchema = z.object({
  group: z.string(),
  running: z.boolean(),
  status: z.enum(['probing', 'failover_running', 'stopped']).optional(),
  probes: z.number().optional(),
  consecutiveFailures: z.number().optional(),
  armed: z.boolean().optional(),
  lastProbe: probe.optional(),
  recent: z.array(probe).optional(),
  triggered: z
    .array(z.object({ failoverId: z.string(), workflowId: z.string(), at: z.string(), afterFailures: z.number() }))
    .optional(),
  activeFailoverWorkflowId: z.string().optional(),
  generations: z.number().optional(),
  config: z
    .object({
      intervalMs: z.number(),
      failuresToTrigger: z.number(),
      probeTimeoutMs: z.number(),
      failover: z.object({
        mode: z.enum(['planned', 'emergency']),
        reason: z.string().optional(),
        requestedBy: z.string(),
        approvalPolicy: z.object({
          required: z.number(),
          roles: z.array(z.string()),
          fourEyes: z.boolean(),
          timeoutMs: z.number(),
          signed: z.boolean().optional(),
        }),
        to: side.optional(),
        injectFailure: z.object({ stage: stageName, step: z.string().optional() }).optional(),
        lockTtlMs: z.number().optional(),
        healthTimeoutMs: z.number().optional(),
      }),
    })
    .optional(),
  lastConfigChange: z.object({ at: z.string(), changes: z.array(z.string()) }).optional(),
  lastError: z.object({ at: z.string(), message: z.string(), probe: z.number() }).optional(),
});
type MonitorView = { group: string; running: boolean } & Partial<Omit<FailoverMonitorState, 'group'>>;
const _monitor: Same<z.infer<typeof monitorSchema>, { [K in keyof MonitorView]: MonitorView[K] }> = true;

export const monitorStopSchema = z.object({ group: z.string(), stopRequested: z.literal(true) });
