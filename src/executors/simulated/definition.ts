/**
 * The stack definition (`stack.yaml` or `stack.json` in the stack directory): typed variables with
 * defaults, and named resources with `${...}` references. Validated with zod so a bad file fails `prepare`
 * with the path of the bad field.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../../shared/config';
import { ErrorCode } from '../../shared/errors';
import { isSecretRef, SENSITIVE } from '../../shared/secrets';
import { failure } from './failures';
import { sha256 } from './model';

export const RESOURCE_KINDS = ['bucket', 'database', 'instance', 'dns_record'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

const variableSchema = z.strictObject({
  type: z.enum(['number', 'string', 'bool', 'list']),
  default: z.unknown().optional(),
  /** Shown as `(sensitive)`; a value for it should come by reference (`{ secret: NAME }`). */
  sensitive: z.boolean().optional(),
  description: z.string().optional(),
});

const resourceSchema = z.strictObject({
  kind: z.enum(RESOURCE_KINDS),
  /** Instances only: a number or a `${var.x}` reference. */
  count: z.union([z.number().int().min(0), z.string()]).optional(),
  attributes: z.record(z.string(), z.unknown()).default({}),
});

export const definitionSchema = z.strictObject({
  description: z.string().optional(),
  variables: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), variableSchema).default({}),
  resources: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), resourceSchema),
});
export type StackDefinition = z.infer<typeof definitionSchema>;
export type VariableType = z.infer<typeof variableSchema>['type'];

const FILES = ['stack.yaml', 'stack.yml', 'stack.json'];

/**
 * The last definition parsed from each file, with the text it came from: a stack's every run reads the same
 * file, and parsing and validating it again cost more than the run's plan. The text is compared, not a mtime, so
 * an edit within the same second is never missed.
 */
const parsedDefinitions = new Map<string, { text: string; definition: StackDefinition }>();

/** Reads and validates the definition; INIT_FAILED (non-retryable) names the file and the bad fields. */
export async function loadDefinition(dir: string): Promise<{ file: string; definition: StackDefinition }> {
  for (const name of FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const known = parsedDefinitions.get(file);
    // A copy: the caller owns what it gets.
    if (known?.text === text) return { file, definition: structuredClone(known.definition) };
    let raw: unknown;
    try {
      raw = name.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
    } catch (err) {
      throw failure(ErrorCode.INIT_FAILED, `${file} does not parse: ${(err as Error).message}`);
    }
    const parsed = definitionSchema.safeParse(raw);
    if (!parsed.success) {
      const lines = formatIssues(parsed.error.issues);
      throw failure(ErrorCode.INIT_FAILED, `${file} is invalid:\n  ${lines.join('\n  ')}`, { issues: lines });
    }
    parsedDefinitions.set(file, { text, definition: structuredClone(parsed.data) });
    return { file, definition: parsed.data };
  }
  throw failure(ErrorCode.INIT_FAILED, `no stack definition (${FILES.join(', ')}) in ${dir}`);
}

function coerce(name: string, type: VariableType, value: unknown): unknown {
  const bad = () =>
    failure(ErrorCode.VALIDATION_FAILED, `variable ${name} must be a ${type}, got ${JSON.stringify(value)}`);
  switch (type) {
    case 'number': {
      // Overrides often arrive as strings (query strings, CLI flags); accept the obvious spellings.
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad();
      return n;
    }
    case 'string':
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      if (typeof value !== 'string') throw bad();
      return value;
    case 'bool':
      if (value === 'true' || value === 'false') return value === 'true';
      if (typeof value !== 'boolean') throw bad();
      return value;
    case 'list': {
      const list =
        typeof value === 'string'
          ? value
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : value;
      if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) throw bad();
      return list;
    }
  }
}

/**
 * Defaults from the definition overlaid with the run's values. An undeclared variable is an error, so a
 * typo such as `instance_cout` fails the run instead of silently deploying the default.
 */
export function resolveVariables(def: StackDefinition, given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(given)) {
    if (!def.variables[name]) {
      throw failure(
        ErrorCode.VALIDATION_FAILED,
        `unknown variable ${name} (declared: ${Object.keys(def.variables).join(', ')})`,
        { variable: name },
      );
    }
  }
  for (const [name, v] of Object.entries(def.variables)) {
    const value = given[name] !== undefined ? given[name] : v.default;
    if (value === undefined) throw failure(ErrorCode.VALIDATION_FAILED, `variable ${name} has no default and no value`);
    // A reference stays a reference (a name) in the snapshot; the plan resolves it for the cloud alone.
    if (isSecretRef(value)) {
      if (v.type !== 'string') {
        throw failure(ErrorCode.VALIDATION_FAILED, `variable ${name} is a ${v.type}: only a string can be a secret`);
      }
      out[name] = value;
      continue;
    }
    const coerced = coerce(name, v.type, value);
    out[name] = v.sensitive ? sensitiveDigest(String(coerced)) : coerced;
  }
  return out;
}

/**
 * What the simulated cloud keeps of a secret or sensitive value: its digest, as a real service keeps a password's
 * hash. Proves which value the cloud got without the value itself being stored, planned or shown.
 */
export function sensitiveDigest(value: string): string {
  return `sha256:${sha256(value)}`;
}

/**
 * The variables as the cloud sees them: references replaced by the digests of the values the activity resolved.
 * SECRET_NOT_FOUND when a reference was not resolved for this call.
 */
export function cloudVariables(
  variables: Record<string, unknown>,
  secretValues: Readonly<Record<string, string>> | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(variables)) {
    if (!isSecretRef(v)) {
      out[name] = v;
      continue;
    }
    const value = secretValues?.[name];
    if (value === undefined) {
      throw failure(ErrorCode.SECRET_NOT_FOUND, `secret ${v.secret} (variable ${name}) was not resolved for this call`);
    }
    out[name] = sensitiveDigest(value);
  }
  return out;
}

/** The variables fit for a log line: references by name, sensitive values as `(sensitive)`. */
export function loggableVariables(def: StackDefinition, variables: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(variables).map(([k, v]) => [k, def.variables[k]?.sensitive && !isSecretRef(v) ? SENSITIVE : v]),
  );
}

/** Names available to `${...}` besides `var.*`. */
export interface Scope {
  stack: string;
  environment: string;
  provider: string;
  region: string;
}

const REF = /\$\{([a-z_.][a-z0-9_.]*)\}/g;

function lookup(ref: string, vars: Record<string, unknown>, scope: Scope): unknown {
  if (ref.startsWith('var.')) {
    const name = ref.slice(4);
    if (!(name in vars)) throw failure(ErrorCode.PLAN_FAILED, `reference to undeclared variable \${${ref}}`);
    return vars[name];
  }
  if (ref in scope) return scope[ref as keyof Scope];
  throw failure(
    ErrorCode.PLAN_FAILED,
    `unknown reference \${${ref}} (use var.NAME, stack, environment, provider, region)`,
  );
}

/** Resolves `${...}`; a string that is exactly one reference keeps the referenced value's type. */
export function interpolate(value: unknown, vars: Record<string, unknown>, scope: Scope): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([a-z_.][a-z0-9_.]*)\}$/.exec(value);
    if (whole) return lookup(whole[1], vars, scope);
    return value.replace(REF, (_, ref: string) => {
      const v = lookup(ref, vars, scope);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars, scope));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars, scope)]));
  }
  return value;
}
