/**
 * Resolving `{ secret: NAME }` variables, and keeping the values out of everything that is written down.
 * Only the activity that runs the tool calls this: the values go to the tool (its environment) and to the
 * redactor of its log lines and error messages, never into a result, a snapshot or the workflow's history.
 */
import fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode } from '../../shared/errors';
import { SECRET_NAME, SENSITIVE, secretRefsOf } from '../../shared/secrets';

/** Where a worker looks a secret up. */
export interface SecretSource {
  /** The value of secret `name`, or undefined when neither the secrets file nor the environment holds it. */
  get(name: string): string | undefined;
}

function configInvalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorCode.CONFIG_INVALID, nonRetryable: true, message });
}

/** NAME=value lines (optionally `export NAME=value`, quoted values, # comments), or one JSON object of strings. */
export function parseSecretsFile(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text.trimStart().startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // The parser's message may quote the file's content: name the file only.
      throw configInvalid(`secrets file ${file} is not valid JSON`);
    }
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      if (!SECRET_NAME.test(k) || typeof v !== 'string') {
        throw configInvalid(`secrets file ${file}: entry ${JSON.stringify(k.slice(0, 128))} must be NAME: "string"`);
      }
      out[k] = v;
    }
    return out;
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m || !SECRET_NAME.test(m[1])) throw configInvalid(`secrets file ${file}: line ${i + 1} is not NAME=value`);
    let value = m[2];
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[1] === '"' ? quoted[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1') : quoted[2];
    out[m[1]] = value;
  });
  return out;
}

/** Reads the secrets file, refusing one that others than its owner may read or write. */
export function readSecretsFile(file: string): Record<string, string> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw configInvalid(`cannot read the secrets file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!stat.isFile()) throw configInvalid(`the secrets file ${file} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    throw configInvalid(
      `the secrets file ${file} is accessible to group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  return parseSecretsFile(fs.readFileSync(file, 'utf8'), file);
}

/** The configured source: the secrets file first (read at each lookup, so a rotated secret is picked up), then the environment. */
export function createSecretSource(
  cfg: StrataConfig['secrets'] | undefined,
  env: NodeJS.ProcessEnv = process.env,
): SecretSource {
  return {
    get(name) {
      if (cfg?.file) {
        const v = readSecretsFile(cfg.file)[name];
        if (v !== undefined) return v;
      }
      if (cfg?.fromEnv ?? true) return env[name];
      return undefined;
    },
  };
}

/**
 * The values of the variables given by reference, by variable name. SECRET_NOT_FOUND (non-retryable: the run's
 * input names a secret this worker does not hold) names the reference and the variable, never a value.
 */
export function resolveSecretVariables(
  variables: Record<string, unknown>,
  source: SecretSource,
): Record<string, string> {
  const out: Record<string, string> = {};
  const missing: string[] = [];
  for (const [variable, secret] of Object.entries(secretRefsOf(variables))) {
    const value = source.get(secret);
    if (value === undefined || value === '') missing.push(`${secret} (variable ${variable})`);
    else out[variable] = value;
  }
  if (missing.length > 0) {
    throw ApplicationFailure.create({
      type: ErrorCode.SECRET_NOT_FOUND,
      nonRetryable: true,
      message: `secret ${missing.join(', ')} is not set in the worker's secrets file or environment`,
      details: [
        { secrets: Object.entries(secretRefsOf(variables)).map(([variable, secret]) => ({ variable, secret })) },
      ],
    });
  }
  return out;
}

/** The values of the references this worker can resolve (for redacting only: a missing one is no error here). */
export function availableSecretValues(
  variables: Record<string, unknown>,
  source: SecretSource,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [variable, secret] of Object.entries(secretRefsOf(variables))) {
    try {
      const value = source.get(secret);
      if (value) out[variable] = value;
    } catch {
      // An unreadable secrets file: nothing to redact with from it; the steps that need the value fail on it.
    }
  }
  return out;
}

/** Replaces every occurrence of the given values (and their JSON-escaped forms) with SENSITIVE. */
export type Redactor = (text: string) => string;

/** A redactor for `values`; the longest first, so a value containing another is replaced whole. */
export function createRedactor(values: Iterable<string>): Redactor {
  const forms = new Set<string>();
  for (const v of values) {
    if (!v) continue;
    forms.add(v);
    forms.add(JSON.stringify(v).slice(1, -1));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (t) => t;
  return (text) => {
    let out = text;
    for (const f of ordered) if (out.includes(f)) out = out.split(f).join(SENSITIVE);
    return out;
  };
}

/** A copy of `value` with `redact` applied to every string in it. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, redact)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, redact)])) as T;
  }
  return value;
}

/**
 * The error an activity may let go of: its message, stack and details redacted (they become workflow history).
 * An ApplicationFailure keeps its type and retryability.
 */
export function redactError(err: unknown, redact: Redactor): unknown {
  if (err instanceof ApplicationFailure) {
    const message = redact(err.message);
    const details = err.details ? redactDeep([...err.details], redact) : undefined;
    if (
      message === err.message &&
      JSON.stringify(details) === JSON.stringify(err.details) &&
      redact(err.stack ?? '') === err.stack
    )
      return err;
    const copy = ApplicationFailure.create({
      type: err.type ?? undefined,
      nonRetryable: err.nonRetryable ?? undefined,
      message,
      details,
      nextRetryDelay: err.nextRetryDelay ?? undefined,
      cause: err.cause ? (redactError(err.cause, redact) as Error) : undefined,
    });
    copy.stack = redact(err.stack ?? '');
    return copy;
  }
  if (err instanceof Error) {
    err.message = redact(err.message);
    if (err.stack) err.stack = redact(err.stack);
    if (err.cause) err.cause = redactError(err.cause, redact);
  }
  return err;
}
