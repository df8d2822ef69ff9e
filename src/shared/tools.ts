/**
 * Where the pinned tool binaries live. scripts/get-tools.sh builds them from package registries into the
 * user cache (outside the work tree, so every clone on a machine shares them) and writes tools.env there.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ToolPaths {
  TEMPORAL_CLI?: string;
  TOFU_BIN_RESOLVED?: string;
  TF_CLI_CONFIG_FILE?: string;
  MOTO_SERVER?: string;
  /** Open Policy Agent, for the Rego policies every plan is evaluated against. */
  OPA_BIN?: string;
  /** Time-skipping test server (workflow unit tests only). */
  TEMPORAL_TEST_SERVER?: string;
}

const TOOL_KEYS: (keyof ToolPaths)[] = [
  'TEMPORAL_CLI',
  'TOFU_BIN_RESOLVED',
  'TF_CLI_CONFIG_FILE',
  'MOTO_SERVER',
  'OPA_BIN',
  'TEMPORAL_TEST_SERVER',
];

export const projectRoot = path.resolve(__dirname, '..', '..');

export function cacheDir(): string {
  return (
    process.env.STRATA_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'strata')
  );
}

function parseEnvFile(text: string): ToolPaths {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Reads tools.env without building anything; the process environment wins key by key. */
export function readTools(): ToolPaths {
  const file = path.join(cacheDir(), 'tools.env');
  const fromFile = fs.existsSync(file) ? parseEnvFile(fs.readFileSync(file, 'utf8')) : {};
  const out: ToolPaths = {};
  // An environment value naming a file that does not exist (a stale TF_CLI_CONFIG_FILE=~/.terraformrc, say)
  // would send OpenTofu to the network; the cache's value wins then.
  for (const k of TOOL_KEYS)
    out[k] = process.env[k] && fs.existsSync(process.env[k]!) ? process.env[k] : fromFile[k] || process.env[k];
  return out;
}

/** Runs scripts/get-tools.sh (idempotent, fast once cached) unless every tool is already known. */
export function resolveTools(): ToolPaths {
  const known = readTools();
  if (TOOL_KEYS.every((k) => known[k])) return known;
  execFileSync('bash', [path.join(projectRoot, 'scripts', 'get-tools.sh')], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return readTools();
}
