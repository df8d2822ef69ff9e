/**
 * Evaluates the Rego policies of a directory with a real `opa eval --format json` against one input document.
 * Every package under `strata.` is a policy; its `deny` and `warn` sets hold findings, each either an object
 * `{"rule": "...", "message": "..."}` or a plain message string (rule = the level). `*_test.rego` files are
 * `opa test`'s, not evaluated here.
 */
import { execFile } from 'node:child_process';
import type { PolicyLevel, PolicyResult } from '../../contracts/policy';
import type { OpaServer } from './opa-server';

/** The opa binary, the policy directory, and how long one evaluation may take. */
export interface OpaOptions {
  bin: string;
  dir: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** The worker's policy server for `dir`; `opa eval` runs when it is absent or cannot answer. */
  server?: OpaServer;
}

/** Runs `opa eval` with the document on stdin; resolves with its JSON output, rejects with what opa said. */
function opaEval(opts: OpaOptions, input: unknown): Promise<unknown> {
  const args = [
    'eval',
    '--format',
    'json',
    '--data',
    opts.dir,
    '--ignore',
    '*_test.rego',
    '--stdin-input',
    'data.strata',
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(
      opts.bin,
      args,
      { timeout: opts.timeoutMs, maxBuffer: 16 * 1024 * 1024, signal: opts.signal },
      (err, stdout, stderr) => {
        if (err) {
          const detail = String(stderr || stdout || '')
            .trim()
            .slice(0, 2000);
          reject(
            new Error(
              `opa eval failed (${(err as NodeJS.ErrnoException).code ?? err.message})${detail ? `: ${detail}` : ''}`,
            ),
          );
          return;
        }
        try {
          resolve(JSON.parse(stdout));
        } catch (parseErr) {
          reject(new Error(`opa eval printed no JSON: ${(parseErr as Error).message}`));
        }
      },
    );
    child.stdin?.end(JSON.stringify(input));
  });
}

function findingsOf(policy: string, level: PolicyLevel, set: unknown): PolicyResult[] {
  if (!Array.isArray(set)) return [];
  return set.map((f) => {
    if (f && typeof f === 'object') {
      const o = f as Record<string, unknown>;
      return {
        policy,
        rule: typeof o.rule === 'string' ? o.rule : level,
        level,
        message: typeof o.message === 'string' ? o.message : typeof o.msg === 'string' ? o.msg : JSON.stringify(f),
      };
    }
    return { policy, rule: level, level, message: String(f) };
  });
}

/** Walks `data.strata`: any object with a `deny` or `warn` set is a policy, named by its path below `strata`. */
function collect(value: unknown, path: string[], out: PolicyResult[]): void {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return;
  const o = value as Record<string, unknown>;
  const name = path.join('.');
  if (path.length) {
    out.push(...findingsOf(name, 'deny', o.deny), ...findingsOf(name, 'warn', o.warn));
  }
  for (const [k, v] of Object.entries(o)) if (k !== 'deny' && k !== 'warn') collect(v, [...path, k], out);
}

/** `data.strata` for `input`: from the policy server, else (or when it fails) from one `opa eval`, whose error counts. */
async function policyValue(opts: OpaOptions, input: unknown): Promise<unknown> {
  if (opts.server) {
    try {
      return await opts.server.evaluate(input, opts.timeoutMs);
    } catch {
      // A policy that does not compile stops the server's start: opa eval then reports it in its own words.
    }
  }
  const out = (await opaEval(opts, input)) as { result?: { expressions?: { value?: unknown }[] }[] };
  return out.result?.[0]?.expressions?.[0]?.value;
}

/** Every finding of every policy in `opts.dir` for `input`, denies first, in a stable order. */
export async function evaluatePolicies(opts: OpaOptions, input: unknown): Promise<PolicyResult[]> {
  return policyFindings(await policyValue(opts, input));
}

/** The findings in a `data.strata` value (from OPA, or from the policies' Wasm bundle), denies first, stably ordered. */
export function policyFindings(value: unknown): PolicyResult[] {
  const results: PolicyResult[] = [];
  collect(value, [], results);
  const rank = (r: PolicyResult) => (r.level === 'deny' ? 0 : 1);
  return results.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      a.policy.localeCompare(b.policy) ||
      a.rule.localeCompare(b.rule) ||
      a.message.localeCompare(b.message),
  );
}
