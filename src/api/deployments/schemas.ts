/** zod schemas of the deployment routes: request validation, response types and /openapi.json in one place. */
import { z } from 'zod';
import { DEPLOYMENT_STATUSES } from '../../contracts/runs';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes');

export const createDeploymentBody = z.strictObject({
  stack: name,
  environment: name,
  variables: z.record(z.string(), z.unknown()).optional(),
  dryRun: z.boolean().optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
  reason: z.string().max(2000).optional(),
});

export const idParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'invalid run id') });


export const listDeploymentsQuery = z.object({
  stack: name.optional(),
  environment: name.optional(),
  status: z.enum(DEPLOYMENT_STATUSES).optional(),
  kind: z.enum(['deploy', 'rollback', 'destroy']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(20),
});

export const approveBody = z.strictObject({ planHash: z.string().optional(), comment: z.string().max(2000).optional() });
export const rejectBody = z.strictObject({ reason: z.string().max(2000).optional() });

const approval = z.object({ by: z.string(), at: z.string(), comment: z.string().optional(), planHash: z.string().optional() });
const planSummary = z.object({ add: z.number(), change: z.number(), destroy: z.number(), planHash: z.string() });

export const deploymentSchema = z.object({
  id: z.string(),
  kind: z.enum(['deploy', 'rollback', 'destroy']),
  stack: z.string(),
  environment: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  requestedBy: z.string(),
  dryRun: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().optional(),
  queuePosition: z.number().optional(),
  plan: planSummary.optional(),
  approvals: z.array(approval),
  approvalsRequired: z.number(),
  resources: z.array(z.object({ address: z.string(), type: z.string(), action: z.string().optional(), status: z.string() })),
  outputs: z.record(z.string(), z.unknown()),
  stateVersion: z.number().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const createdRunSchema = z.object({
  id: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  stack: z.string(),
  environment: z.string(),
  links: z.record(z.string(), z.string()),
});

export const planSchema = z.object({
  add: z.number(),
  change: z.number(),
  destroy: z.number(),
  planHash: z.string(),
  risk: z.enum(['low', 'medium', 'high']),
  resources: z.array(z.object({ address: z.string(), type: z.string(), action: z.string() })),
});

export const logsSchema = z.object({
  items: z.array(z.object({ ts: z.string(), level: z.string(), message: z.string(), resource: z.string().optional() })),
});
