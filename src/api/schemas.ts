/**
 * Building blocks of every route's request schemas. Everything a client sends is bounded (length, count, depth)
 * and free of control characters before it reaches a handler, so hostile input is a 400 that names the field,
 * never a visibility query that chokes (a NUL byte), a workflow input of megabytes, or a 5xx.
 */
import { z } from 'zod';
import { POLICY_FLAGS } from '../contracts/policy';

/**
 * No C0 controls or DEL, except tab, newline and carriage return, which free text may carry. A pattern rather
 * than a refinement, so /openapi.json says it too and fuzzers generate what the server takes.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NO_CONTROL = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/;

/** A string of at most `max` characters without control characters (tab and newlines allowed). */
export function safeString(max: number) {
  return z.string().max(max).regex(NO_CONTROL, 'must not contain control characters');
}

/** Stack and environment names, as strata.yaml allows them. */
export const resourceName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes');

/** Failover group names: strata.yaml keys, also part of failover ids and workflow ids. */
export const groupName = z
  .string()
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dots, underscores and dashes');

/** Free text a person writes (reason, comment): bounded, no control characters but tab and newline. */
export function freeText(max = 2000) {
  return safeString(max);
}

/** An opaque client-chosen key (idempotency): printable, one line. */
export const opaqueKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\u0020-\u007E\u00A0-\uFFFF]+$/, 'printable characters only');

/** A plan hash as the plan view shows it (hex digest). */
export const planHash = z
  .string()
  .max(128)
  .regex(/^[A-Za-z0-9:_-]+$/, 'a plan hash (hex digest)');

/** Page sizes of list routes: 1..max, `fallback` when absent (else left out). */
export function limit(max: number): z.ZodOptional<z.ZodCoercedNumber>;
export function limit(max: number, fallback: number): z.ZodDefault<z.ZodCoercedNumber>;
export function limit(max: number, fallback?: number) {
  const n = z.coerce.number().int().min(1).max(max);
  return fallback === undefined ? n.optional() : n.default(fallback);
}

/** Bounds of a run's `variables` map: how many, how deep, how long. */
export const VARIABLE_LIMITS = { names: 100, depth: 5, items: 500, stringLength: 10_000, nameLength: 128 } as const;

const variableName = z
  .string()
  .max(VARIABLE_LIMITS.nameLength)
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a variable name (letters, digits, underscores, dashes)');

/** A JSON value no deeper than `depth`, with bounded strings and collections. */
function boundedValue(depth: number): z.ZodType {
  const leaf = z.union([safeString(VARIABLE_LIMITS.stringLength), z.number(), z.boolean(), z.null()]);
  if (depth <= 1) return leaf;
  const inner = z.lazy(() => boundedValue(depth - 1));
  return z.union([
    leaf,
    z.array(inner).max(VARIABLE_LIMITS.items),
    z
      .record(z.string().max(VARIABLE_LIMITS.nameLength), inner)
      .refine((o) => Object.keys(o).length <= VARIABLE_LIMITS.items, `at most ${VARIABLE_LIMITS.items} keys`),
  ]);
}

/** Any JSON value within the variable limits (a variable declared without a type takes one). */
export const boundedJson = boundedValue(VARIABLE_LIMITS.depth);

/** A run's variables: at most 100 names, values nested at most 5 levels. Checked against the stack's declarations later. */
export const variablesMap = z
  .record(variableName, boundedJson)
  .refine((o) => Object.keys(o).length <= VARIABLE_LIMITS.names, `at most ${VARIABLE_LIMITS.names} variables`);

/** Explicit acknowledgements a run gives its policies (`input.flags`): the flags src/contracts/policy.ts declares. */
export const policyFlags = z.strictObject(Object.fromEntries(POLICY_FLAGS.map((f) => [f, z.boolean().optional()])), {
  error: (iss) =>
    iss.code === 'unrecognized_keys'
      ? `unknown policy flag ${iss.keys.map((k) => `"${k}"`).join(', ')} (known: ${POLICY_FLAGS.join(', ')})`
      : undefined,
});

/** True when A and B are the same type: `const _: Same<A, B> = true` stops compiling when a schema and its type drift. */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
