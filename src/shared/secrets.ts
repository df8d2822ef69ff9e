/**
 * Secrets by reference: a variable given as `{ "secret": "DB_PASSWORD" }` names a secret the worker resolves,
 * inside the activity that runs the tool, from its environment or its secrets file. Only the name travels
 * through requests, workflow history and snapshots; the value never leaves the activity.
 *
 * Safe to import from workflow code (no I/O).
 */
import { z } from 'zod';

/** A secret's name: what `{ secret: NAME }` may say (environment-variable style). */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;

/** What is shown instead of a sensitive value: sensitive outputs and variables, redacted log text. */
export const SENSITIVE = '(sensitive)';

/** A variable's value given by reference. */
export interface SecretRef {
  secret: string;
}

/** The request form of a reference: exactly `{ secret: NAME }`. */
export const secretRefSchema = z.strictObject({
  secret: z.string().regex(SECRET_NAME, 'a secret name (A-Z, 0-9 and _, not starting with a digit, at most 128)'),
});

/** Whether `v` is a `{ secret: NAME }` reference. */
export function isSecretRef(v: unknown): v is SecretRef {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.keys(v).length === 1 &&
    typeof (v as { secret?: unknown }).secret === 'string' &&
    SECRET_NAME.test((v as SecretRef).secret)
  );
}

/** The variables given by reference, as variable name → secret name. */
export function secretRefsOf(variables: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(variables)) if (isSecretRef(v)) out[name] = v.secret;
  return out;
}

/** The variables without those given by reference (what may be written to a snapshotted file). */
export function withoutSecretRefs(variables: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(variables).filter(([, v]) => !isSecretRef(v)));
}

/** `variables` with every sensitive one that holds a plain value shown as SENSITIVE (references stay: they are names). */
export function maskSensitiveVariables(
  variables: Record<string, unknown>,
  sensitive: Iterable<string>,
): Record<string, unknown> {
  const out = { ...variables };
  for (const name of sensitive) if (name in out && !isSecretRef(out[name])) out[name] = SENSITIVE;
  return out;
}
