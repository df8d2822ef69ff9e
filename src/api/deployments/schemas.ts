/** zod schemas of the deployment routes: request validation, response types and /openapi.json in one place. */
import { z } from 'zod';
import type { Approval, Rejection } from '../../contracts/approval';
import { DEPLOYMENT_STATUSES, type Deployment, type PlanView, type RunEvent } from '../../contracts/runs';
import type { StrataConfig } from '../../shared/config';
import { secretRefSchema } from '../../shared/secrets';
import { declaredVariables, type StackVariables, type VariableType } from '../../shared/stack-variables';
import {
  boundedJson,
  safeString,
  freeText,
  limit,
  opaqueKey,
  planHash,
  policyFlags,
  resourceName,
  VARIABLE_LIMITS,
  variablesMap,
  type Same,
} from '../schemas';

const RUN_KINDS = ['deploy', 'rollback', 'destroy'] as const;

export const createDeploymentBody = z.strictObject({
  stack: resourceName,
  environment: resourceName,
  variables: variablesMap.optional(),
  dryRun: z.boolean().optional(),
  idempotencyKey: opaqueKey.optional(),
  reason: freeText().optional(),
  /** `high` goes ahead of normal runs waiting for the same stack lock (roles in `runQueue.highPriorityRoles`). */
  priority: z.enum(['normal', 'high']).optional(),
  /** Explicit acknowledgements policies look for, e.g. `{"allow_database_deletion": true}`. */
  policyFlags: policyFlags.optional(),
});

export const idParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'invalid run id') });

export const listDeploymentsQuery = z.object({
  stack: resourceName.optional(),
  environment: resourceName.optional(),
  status: z.enum(DEPLOYMENT_STATUSES).optional(),
  kind: z.enum(RUN_KINDS).optional(),
  limit: limit(200, 20),
});

/** `GET /deployments/:id?wait=S`: up to S seconds (at most 60) for the run to end before answering. */
export const getDeploymentQuery = z.object({
  wait: z.coerce.number().min(0).max(60).optional(),
});

export const approveBody = z.strictObject({ planHash: planHash.optional(), comment: freeText().optional() });
/** An admin's override of a plan's policy denial: its own decision, with a reason. */
export const overridePolicyBody = z.strictObject({ reason: freeText().min(1) });
export const rejectBody = z.strictObject({ reason: freeText().optional() });

// ---- what a stack declares, as request schemas ----------------------------------------------------------------

const describe = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : JSON.stringify(v);

/** Values the executor converts to the declared type (OpenTofu and the simulated cloud take numeric strings for numbers, and so on). */
export function variableValueSchema(t: VariableType, depth: number = VARIABLE_LIMITS.depth): z.ZodType {
  const wrong = (what: string) => ({
    error: (iss: { input?: unknown }) => `must be ${what}, got ${describe(iss.input)}`,
  });
  const str = safeString(VARIABLE_LIMITS.stringLength);
  const nested = (e: VariableType) => (depth > 1 ? variableValueSchema(e, depth - 1) : z.never());
  switch (t.kind) {
    case 'any':
      return boundedJson;
    case 'string':
      return z.union([str, z.number(), z.boolean()], wrong('a string'));
    case 'number':
      return z.union(
        [z.number(), z.string().regex(/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, wrong('a number'))],
        wrong('a number'),
      );
    case 'bool':
      return z.union(
        [z.boolean(), z.enum(['true', 'false'], wrong('a bool (true or false)'))],
        wrong('a bool (true or false)'),
      );
    case 'string-list':
      return z.union(
        [z.array(str).max(VARIABLE_LIMITS.items), str],
        wrong('a list of strings (or one comma-separated string)'),
      );
    case 'list':
      return z.array(nested(t.element), wrong('a list')).max(VARIABLE_LIMITS.items);
    case 'tuple':
      return z.tuple(
        t.elements.map((e) => nested(e)) as [z.ZodType, ...z.ZodType[]],
        wrong(`a list of ${t.elements.length}`),
      );
    case 'map':
      return z.record(z.string().max(VARIABLE_LIMITS.nameLength), nested(t.element), wrong('a map'));
    case 'object': {
      const shape: Record<string, z.ZodType> = {};
      for (const [k, a] of Object.entries(t.attributes))
        shape[k] = a.optional ? nested(a.type).optional() : nested(a.type);
      return z.strictObject(shape, wrong(`an object with ${Object.keys(t.attributes).join(', ') || 'no attributes'}`));
    }
  }
}

const looksLikeReference = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && 'secret' in v;

/**
 * A value or a `{ secret: NAME }` reference. Not a union: a union that fails reports itself ("Invalid input") for a
 * missing value or a nested mistake, where the value schema names the field and what it must be. Documented as anyOf.
 */
function referenceOr(value: z.ZodType): z.ZodType {
  return z
    .any()
    .superRefine((v, ctx) => {
      const r = (looksLikeReference(v) ? secretRefSchema : value).safeParse(v);
      for (const issue of r.error?.issues ?? [])
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    })
    .meta({
      anyOf: [secretRefSchema, value].map((t) => z.toJSONSchema(t, { target: 'openapi-3.0', unrepresentable: 'any' })),
    });
}

/** The `variables` a stack takes: exactly its declared names, each with its type; undeclared names are refused by name. */
export function declaredVariablesSchema(
  stack: string,
  declared: StackVariables,
  preset: Record<string, unknown>,
): z.ZodType {
  const names = Object.keys(declared.variables);
  const shape: Record<string, z.ZodType> = {};
  for (const [name, v] of Object.entries(declared.variables)) {
    // Any declared variable may be given by reference (`{ "secret": "NAME" }`): the worker resolves it when the
    // tool runs, so whether the secret exists is known only there. A sensitive one only that way: a plain value
    // would be stored in the run's history.
    let s: z.ZodType = v.sensitive
      ? z.strictObject(secretRefSchema.shape, {
          error: () => `variable ${name} is sensitive: give it by reference, { "secret": "NAME" } (NAME: A-Z, 0-9, _)`,
        })
      : v.type.kind === 'any'
        ? variableValueSchema(v.type) // any JSON, a reference included
        : referenceOr(variableValueSchema(v.type));
    if (v.nullable && !v.sensitive) s = s.nullable();
    if (v.description) s = s.describe(v.description);
    // strata.yaml may give a value the stack declares without a default; then the request need not.
    shape[name] = v.required && !(name in preset) ? s : s.optional();
  }
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown variable ${iss.keys.map((k) => `"${k}"`).join(', ')}: stack ${stack} declares ${names.join(', ') || 'none'}`
        : undefined,
  });
}

/**
 * The deployment body of one stack: its name, its environments and its declared variables. The union over every
 * configured stack is what /openapi.json documents, and the same per-stack schema validates a request.
 */
export function stackDeploymentBody(
  stack: string,
  environments: string[],
  declared: StackVariables | undefined,
  preset: Record<string, unknown>,
): z.ZodType {
  const variables = declared ? declaredVariablesSchema(stack, declared, preset) : variablesMap;
  const mustGive = declared && Object.entries(declared.variables).some(([n, v]) => v.required && !(n in preset));
  return createDeploymentBody.extend({
    stack: z.literal(stack),
    environment: z.enum(environments as [string, ...string[]], {
      error: (iss) => `stack ${stack} has no environment ${describe(iss.input)} (known: ${environments.join(', ')})`,
    }),
    variables: mustGive ? variables : variables.optional(),
  });
}

/**
 * Built bodies by config and stack, reused while the stack's declarations are the same object (declaredVariables
 * keeps one per unchanged set of files). Building every stack's schema on every request cost ~40 ms of the API's
 * CPU per POST with a thousand environments, which made the POST latency under a burst.
 */
const builtBodies = new WeakMap<
  object,
  Map<string, { stack: object; declared: StackVariables | undefined; body: z.ZodType }>
>();

/** Every configured stack's deployment body, by stack name; re-read when a stack's files change. */
export async function deploymentBodies(
  config: Pick<StrataConfig, 'stacks' | 'environments'>,
): Promise<Map<string, z.ZodType>> {
  let built = builtBodies.get(config);
  if (!built) builtBodies.set(config, (built = new Map()));
  const out = new Map<string, z.ZodType>();
  for (const [name, s] of Object.entries(config.stacks)) {
    const envs = s.environments ?? Object.keys(config.environments);
    if (!envs.length) continue;
    const declared = await declaredVariables(s);
    let hit = built.get(name);
    if (!hit || hit.stack !== s || hit.declared !== declared) {
      hit = { stack: s, declared, body: stackDeploymentBody(name, envs, declared, s.variables) };
      built.set(name, hit);
    }
    out.set(name, hit.body);
  }
  return out;
}

// ---- responses ---------------------------------------------------------------------------------------------------

const runError = z.object({ code: z.string(), message: z.string() });

/** One counted approval: who, when, by which proven path (`api`, `slack`, `bot:<id>`), and how it arrived. */
export const approvalSchema = z.object({
  by: z.string(),
  at: z.string(),
  comment: z.string().optional(),
  planHash: z.string().optional(),
  via: z.string(),
  transport: z.enum(['update', 'signal']).optional(),
});
const _approval: Same<z.infer<typeof approvalSchema>, Approval> = true;

export const rejectionSchema = z.object({
  by: z.string(),
  at: z.string(),
  reason: z.string().optional(),
  via: z.string().optional(),
});

/** A decision the gate refused: who it claimed to be, what it tried, why it did not count. */
export const refusedDecisionSchema = z.object({
  claimedBy: z.string(),
  at: z.string(),
  decision: z.enum(['approve', 'reject']),
  reason: z.string(),
  transport: z.enum(['update', 'signal']),
});
const _rejection: Same<z.infer<typeof rejectionSchema>, Rejection> = true;

export const runEventSchema = z.object({
  ts: z.string(),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
  resource: z.string().optional(),
});
const _event: Same<z.infer<typeof runEventSchema>, RunEvent> = true;

/** Monthly cost before/after/delta from the dated price table; unpriced resources are listed, never counted as zero. */
export const costSchema = z.object({
  monthlyBefore: z.number(),
  monthlyAfter: z.number(),
  monthlyDelta: z.number(),
  currency: z.string(),
  unpriced: z.array(z.string()),
  priceTable: z.string(),
});

/** One finding of a Rego policy: `deny` blocks approval, `warn` is shown. */
export const policyResultSchema = z.object({
  policy: z.string(),
  rule: z.string(),
  level: z.enum(['deny', 'warn']),
  message: z.string(),
});

/** An admin's recorded override of a plan's policy denial. */
export const policyOverrideSchema = z.object({
  by: z.string(),
  at: z.string(),
  reason: z.string(),
  rules: z.array(z.string()),
  via: z.string(),
});

export const planSchema = z.object({
  add: z.number(),
  change: z.number(),
  destroy: z.number(),
  planHash: z.string(),
  risk: z.enum(['low', 'medium', 'high']),
  resources: z.array(z.object({ address: z.string(), type: z.string(), action: z.string() })),
  notes: z.array(z.string()).optional(),
  cost: costSchema.optional(),
  policy: z.object({ results: z.array(policyResultSchema) }).optional(),
  outputChanges: z.array(z.string()).optional(),
}) satisfies z.ZodType<PlanView>;
const _plan: Same<z.infer<typeof planSchema>, PlanView> = true;

/** The `Deployment` of src/contracts/runs.ts, field for field (a compile error when either side changes alone). */
export const deploymentSchema = z.object({
  id: z.string(),
  kind: z.enum(RUN_KINDS),
  stack: z.string(),
  environment: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  requestedBy: z.string(),
  dryRun: z.boolean(),
  reason: z.string().optional(),
  targetVersion: z.number().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  revision: z.number().int().optional(),
  completedAt: z.string().optional(),
  queuePosition: z.number().optional(),
  plan: planSchema.optional(),
  approvals: z.array(approvalSchema),
  approvalsRequired: z.number(),
  rejection: rejectionSchema.optional(),
  policyOverride: policyOverrideSchema.optional(),
  refusedDecisions: z.array(refusedDecisionSchema).optional(),
  approvalExpiresAt: z.string().optional(),
  resources: z.array(
    z.object({
      address: z.string(),
      type: z.string(),
      action: z.string().optional(),
      status: z.enum(['pending', 'planned', 'applied', 'unchanged', 'failed', 'deleted']),
    }),
  ),
  outputs: z.record(z.string(), z.unknown()),
  stateVersion: z.number().optional(),
  error: runError.optional(),
  rollback: z
    .object({
      toVersion: z.number().optional(),
      status: z.enum(['succeeded', 'failed', 'skipped']),
      stateVersion: z.number().optional(),
      error: runError.optional(),
    })
    .optional(),
  applyStartedAt: z.string().optional(),
  applyCompletedAt: z.string().optional(),
  events: z.array(runEventSchema),
  priority: z.enum(['normal', 'high']).optional(),
  releaseId: z.string().optional(),
}) satisfies z.ZodType<Deployment>;
const _deployment: Same<z.infer<typeof deploymentSchema>, Deployment> = true;

export const deploymentListSchema = z.object({ items: z.array(deploymentSchema) });

/** 202 of every route that starts a run (deploy, rollback, destroy). */
export const createdRunSchema = z.object({
  id: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  stack: z.string(),
  environment: z.string(),
  targetVersion: z.number().optional(),
  links: z.record(z.string(), z.string()),
});

export const cancelledRunSchema = z.object({
  id: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  cancelRequested: z.literal(true),
});

export const logsSchema = z.object({ items: z.array(runEventSchema) });
