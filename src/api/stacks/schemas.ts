/** zod schemas of the stack routes: request validation, response types and /openapi.json in one place. */
import { z } from 'zod';
import type { DriftScanResult } from '../../contracts/drift';
import type { StrataConfig } from '../../shared/config';
import type { StateVersion } from '../../store/state-store';
import { freeText, limit, opaqueKey, policyFlags, resourceName, type Same } from '../schemas';

const oneOf = (names: string[], what: string) =>
  names.length
    ? z.enum(names as [string, ...string[]], {
        error: (iss) => `unknown ${what} ${JSON.stringify(iss.input)} (known: ${names.join(', ')})`,
      })
    : resourceName;

/** `:stack` and `:env` name a configured stack and environment (a stack limited to fewer environments answers 404). */
export function envParams(config: Pick<StrataConfig, 'stacks' | 'environments'>) {
  return z.object({
    stack: oneOf(Object.keys(config.stacks), 'stack'),
    env: oneOf(Object.keys(config.environments), 'environment'),
  });
}

export const historyQuery = z.object({ limit: limit(100) });
export const rollbackBody = z.strictObject({
  targetVersion: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  reason: freeText().optional(),
  idempotencyKey: opaqueKey.optional(),
  /** Default high: a rollback a person asks for goes ahead of normal runs waiting for the lock. */
  priority: z.enum(['normal', 'high']).optional(),
  policyFlags: policyFlags.optional(),
});
export const destroyBody = z.strictObject({
  reason: freeText().optional(),
  idempotencyKey: opaqueKey.optional(),
  /** A destroy deletes databases: policies/database_deletion.rego wants `{"allow_database_deletion": true}`. */
  policyFlags: policyFlags.optional(),
});
export const unlockBody = z
  .strictObject({
    reason: freeText().optional(),
    /** The run expected to hold the lock (run or workflow id); default: whoever holds it when the request is read. */
    holder: z
      .string()
      .min(1)
      .max(300)
      .regex(/^[A-Za-z0-9._:/-]+$/)
      .optional(),
  })
  .optional();
export const driftScanBody = z.strictObject({ remediate: z.boolean().optional() }).optional();

const versionKind = z.enum(['deploy', 'rollback', 'destroy']);

export const stackListSchema = z.object({
  items: z.array(
    z.object({
      name: z.string(),
      executor: z.enum(['tofu', 'cdktf', 'simulated', 'cloudformation', 'kubernetes', 'helm']),
      description: z.string().optional(),
      environments: z.array(
        z.object({
          name: z.string(),
          currentVersion: z.number().optional(),
          locked: z.boolean(),
          lockHolder: z.string().optional(),
          queued: z.number().optional(),
        }),
      ),
    }),
  ),
});

/** The current version: a StateVersion without the engine state and the configuration snapshot. */
export const stateSchema = z.object({
  version: z.number(),
  deploymentId: z.string(),
  kind: versionKind,
  createdAt: z.string(),
  planHash: z.string(),
  outputs: z.record(z.string(), z.unknown()),
  resources: z.array(z.object({ address: z.string(), type: z.string() })),
});
const _state: Same<
  z.infer<typeof stateSchema>,
  Pick<StateVersion, 'version' | 'deploymentId' | 'kind' | 'createdAt' | 'planHash' | 'outputs' | 'resources'>
> = true;

export const historySchema = z.object({
  items: z.array(
    z.object({
      version: z.number(),
      deploymentId: z.string(),
      kind: versionKind,
      createdAt: z.string(),
      planHash: z.string(),
      restoredFrom: z.number().optional(),
    }),
  ),
});

/** The stored report of the latest scan (src/contracts/drift.ts). */
export const driftSchema = z.object({
  stack: z.string(),
  environment: z.string(),
  scannedAt: z.string(),
  drifted: z.boolean(),
  version: z.number().optional(),
  remediationId: z.string().optional(),
  resources: z.array(
    z.object({
      address: z.string(),
      type: z.string(),
      change: z.enum(['modified', 'deleted', 'added']),
      severity: z.enum(['low', 'medium', 'high', 'critical']),
    }),
  ),
});
type Flat<T> = { [K in keyof T]: T[K] };
const _drift: Same<z.infer<typeof driftSchema>, Flat<DriftScanResult>> = true;

export const driftScanStartedSchema = z.object({ id: z.string(), workflowId: z.string() });
export const unlockedSchema = z.object({
  stack: z.string(),
  environment: z.string(),
  unlocked: z.literal(true),
  previousHolder: z.string().optional(),
});
