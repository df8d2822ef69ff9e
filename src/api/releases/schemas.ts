/** zod schemas of the release routes: request validation, response types and /openapi.json in one place. */
import fs from 'node:fs';
import { z } from 'zod';
import { RELEASE_STATUSES, type Release } from '../../contracts/release';
import { DEPLOYMENT_STATUSES } from '../../contracts/runs';
import {
  approvalSchema,
  costSchema,
  policyOverrideSchema,
  policyResultSchema,
  rejectionSchema,
  runEventSchema,
  declaredVariablesSchema,
} from '../deployments/schemas';
import type { StrataConfig } from '../../shared/config';
import { declaredVariables } from '../../shared/stack-variables';
import type { StateStore } from '../../store/state-store';
import { freeText, limit, opaqueKey, planHash, resourceName, variablesMap, type Same } from '../schemas';
import { declaredOutputs } from './declared-outputs';

const variableName = z
  .string()
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a variable name (letters, digits, underscores, dashes)');

/** `stack.output`: a configured stack's name, a dot, one of its outputs. */
const outputRef = z
  .string()
  .max(200)
  .regex(/^[a-z0-9][a-z0-9-]*\.[A-Za-z_][A-Za-z0-9_-]*$/, 'a reference "stack.output"');

/** A release file's name: `releases/<name>.yaml`. */
export const releaseName = z
  .string()
  .max(100)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'a release file name (lower-case letters, digits, dashes, underscores)');

/** One stack of a release request. */
export const releaseStackBody = z.strictObject({
  stack: resourceName,
  variables: variablesMap.optional(),
  inputs: z
    .record(variableName, outputRef)
    .refine((o) => Object.keys(o).length <= 100, 'at most 100 inputs')
    .optional(),
});

/** The definition itself: what a release file holds and what POST takes inline. */
export const releaseDefinition = z.strictObject({
  environment: resourceName,
  stacks: z.array(releaseStackBody).min(1).max(50),
  dependencies: z
    .array(z.strictObject({ from: resourceName, to: resourceName }))
    .max(500)
    .optional(),
  maxParallel: z.number().int().min(1).max(50).optional(),
  onFailure: z.enum(['stop', 'rollback']).optional(),
  dryRun: z.boolean().optional(),
  approval: z.enum(['release', 'stack']).optional(),
});
/** A validated release definition. */
export type ReleaseDefinitionBody = z.infer<typeof releaseDefinition>;

const inline = releaseDefinition.extend({ idempotencyKey: opaqueKey.optional() });
/** A release file by name; `environment` and `dryRun` may override the file's (the same release, promoted). */
const byName = z.strictObject({
  name: releaseName,
  environment: resourceName.optional(),
  dryRun: z.boolean().optional(),
  idempotencyKey: opaqueKey.optional(),
});

/** POST /api/v1/releases: a definition inline, or `{name}` of `releases/<name>.yaml`. */
export const createReleaseBody = z.union([inline, byName], {
  error: () => 'give a release definition ({environment, stacks, ...}) or the name of a release file ({name})',
});
/** A validated POST /api/v1/releases body. */
export type CreateReleaseBody = z.infer<typeof createReleaseBody>;

/** `:id` of a release route. */
export const releaseIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'invalid release id') });

/** Filters of GET /api/v1/releases. */
export const listReleasesQuery = z.object({
  environment: resourceName.optional(),
  status: z.enum(RELEASE_STATUSES).optional(),
  limit: limit(100, 20),
});

/** `stack` names the stack whose run to approve when each stack is approved on its own (`approval: stack`). */
export const approveReleaseBody = z.strictObject({
  planHash: planHash.optional(),
  comment: freeText().optional(),
  stack: resourceName.optional(),
});
/** Rejecting the release, or with `stack` that stack's run. */
export const rejectReleaseBody = z.strictObject({ reason: freeText().optional(), stack: resourceName.optional() });
/** An admin's override of the release's policy denials, with a reason. */
export const overrideReleaseBody = z.strictObject({ reason: freeText().min(1) });

// ---- responses ---------------------------------------------------------------------------------------------------

const runError = z.object({ code: z.string(), message: z.string() });
const risk = z.enum(['low', 'medium', 'high']);

const stackStatus = z.enum([...DEPLOYMENT_STATUSES, 'pending', 'skipped']);

/** The `Release` of src/contracts/release.ts, field for field. */
export const releaseSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  environment: z.string(),
  status: z.enum(RELEASE_STATUSES),
  requestedBy: z.string(),
  dryRun: z.boolean(),
  approval: z.enum(['release', 'stack']),
  onFailure: z.enum(['stop', 'rollback']),
  maxParallel: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().optional(),
  waves: z.array(z.array(z.string())),
  edges: z.array(z.object({ from: z.string(), to: z.string() })),
  stacks: z.array(
    z.object({
      stack: z.string(),
      wave: z.number(),
      dependsOn: z.array(z.string()),
      inputs: z.record(z.string(), z.string()),
      status: stackStatus,
      runId: z.string().optional(),
      previewRunId: z.string().optional(),
      plan: z
        .object({
          add: z.number(),
          change: z.number(),
          destroy: z.number(),
          planHash: z.string(),
          risk,
          cost: costSchema.optional(),
          policy: z.object({ results: z.array(policyResultSchema) }).optional(),
          outputChanges: z.array(z.string()).optional(),
        })
        .optional(),
      knownAfterApply: z.array(z.string()).optional(),
      outputs: z.record(z.string(), z.unknown()).optional(),
      previousVersion: z.number().optional(),
      stateVersion: z.number().optional(),
      applyStartedAt: z.string().optional(),
      applyCompletedAt: z.string().optional(),
      reason: z.string().optional(),
      error: runError.optional(),
      rollback: z
        .object({
          runId: z.string().optional(),
          toVersion: z.number().optional(),
          status: z.enum([...DEPLOYMENT_STATUSES, 'skipped']),
          reason: z.string().optional(),
          stateVersion: z.number().optional(),
        })
        .optional(),
    }),
  ),
  risk: risk.optional(),
  cost: costSchema.optional(),
  policy: z
    .object({
      deny: z.number(),
      warn: z.number(),
      results: z.array(policyResultSchema.extend({ stack: z.string() })),
    })
    .optional(),
  impact: z.array(
    z.object({
      stack: z.string(),
      output: z.string(),
      consumers: z.array(z.object({ stack: z.string(), variable: z.string() })),
      known: z.boolean(),
    }),
  ),
  planHash: z.string().optional(),
  approvals: z.array(approvalSchema),
  approvalsRequired: z.number(),
  rejection: rejectionSchema.optional(),
  approvalExpiresAt: z.string().optional(),
  policyOverride: policyOverrideSchema.optional(),
  reapproval: z.object({ stack: z.string(), reason: z.string() }).optional(),
  error: runError.optional(),
  events: z.array(runEventSchema),
}) satisfies z.ZodType<Release>;
const _release: Same<z.infer<typeof releaseSchema>, Release> = true;

/** GET /api/v1/releases. */
export const releaseListSchema = z.object({ items: z.array(releaseSchema) });

/** 202 of POST /api/v1/releases. */
export const createdReleaseSchema = z.object({
  id: z.string(),
  status: z.enum(RELEASE_STATUSES),
  environment: z.string(),
  waves: z.array(z.array(z.string())),
  links: z.record(z.string(), z.string()),
});

/** 202 of POST /api/v1/releases/:id/cancel. */
export const cancelledReleaseSchema = z.object({
  id: z.string(),
  status: z.enum(RELEASE_STATUSES),
  cancelRequested: z.literal(true),
});

/**
 * The request body as /openapi.json documents it: the configured environments, stacks with their declared
 * variables, inputs naming the declared variables and the other stacks' declared outputs, and the release files
 * that resolve against strata.yaml. A fuzzer generating from it produces requests the API takes, as far as a
 * schema can say: what it cannot (a stack listed twice, an input from a stack left out of the release, a cycle)
 * is refused with a 400 naming it, which only a request naming two or more stacks can run into.
 */
export async function documentedReleaseBody(
  config: Pick<StrataConfig, 'stacks' | 'environments' | 'releases'>,
  state: StateStore,
  isValidFile: (name: string) => Promise<boolean>,
): Promise<z.ZodType> {
  const names = Object.keys(config.stacks);
  const envNames = Object.keys(config.environments) as [string, ...string[]];
  const refs = new Map<string, string[]>();
  for (const n of names) {
    const offered = await declaredOutputs(n, config.stacks[n], envNames[0], state);
    refs.set(
      n,
      offered.names.map((o) => `${n}.${o}`),
    );
  }
  const items: z.ZodType[] = [];
  for (const n of names) {
    const s = config.stacks[n];
    const declared = await declaredVariables(s);
    const variables = declared ? declaredVariablesSchema(n, declared, s.variables) : variablesMap;
    const fromOthers = names.filter((o) => o !== n).flatMap((o) => refs.get(o) ?? []);
    const vars = declared ? Object.keys(declared.variables) : [];
    const shape: Record<string, z.ZodType> = { stack: z.literal(n), variables: variables.optional() };
    // Only a stack with other stacks to take outputs from, and declared variables to feed, can have inputs.
    if (fromOthers.length && vars.length) {
      shape.inputs = z
        .partialRecord(z.enum(vars as [string, ...string[]]), z.enum(fromOthers as [string, ...string[]]))
        .optional();
    }
    items.push(z.strictObject(shape));
  }
  const stackItem =
    items.length > 1 ? z.union(items as [z.ZodType, z.ZodType, ...z.ZodType[]]) : (items[0] ?? releaseStackBody);
  const stackNames = z.enum(names as [string, ...string[]]);
  const inline = releaseDefinition.extend({
    environment: z.enum(envNames),
    stacks: z
      .array(stackItem)
      .min(1)
      .max(Math.min(50, Math.max(1, names.length))),
    dependencies: z
      .array(z.strictObject({ from: stackNames, to: stackNames }))
      .max(names.length > 1 ? 500 : 0)
      .optional(),
    idempotencyKey: opaqueKey.optional(),
  });
  const files: string[] = [];
  if (fs.existsSync(config.releases.dir)) {
    for (const f of fs.readdirSync(config.releases.dir).sort()) {
      const m = /^([a-z0-9][a-z0-9_-]*)\.(ya?ml|json)$/.exec(f);
      if (m && (await isValidFile(m[1]))) files.push(m[1]);
    }
  }
  if (!files.length) return inline;
  const byFile = z.strictObject({
    name: z.enum(files as [string, ...string[]]),
    environment: z.enum(envNames).optional(),
    dryRun: z.boolean().optional(),
    idempotencyKey: opaqueKey.optional(),
  });
  return z.union([inline, byFile]);
}
