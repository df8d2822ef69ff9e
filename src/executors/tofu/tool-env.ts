/**
 * Which tofu/terraform binary runs, with which CLI config and environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import { cacheDir, readTools } from '../../shared/tools';

/** Options shared by the tofu and CDKTF executors. */
export interface TofuToolOptions {
  /** Binary to run; default `TOFU_BIN`, then `TERRAFORM_BIN`, then the pinned build from tools.env. */
  bin?: string;
  /** CLI config (provider mirror); default tools.env's `TF_CLI_CONFIG_FILE`. */
  cliConfigFile?: string;
  /** Strata's data directory, exposed to stacks as `strata_data_dir`; default `<project>/.data`. */
  dataDir?: string;
  /** Grace period between SIGINT and SIGKILL when an apply is cancelled (default 10 s). */
  graceMs?: number;
  /** Heartbeat interval while a tool runs (default 5 s). */
  heartbeatMs?: number;
  /** How long an apply lease lasts without a renewal (default 30 s, see executors/apply-lease.ts). */
  leaseTtlMs?: number;
}

/** Resolves the binary; TOOL_NOT_FOUND (non-retryable: another attempt on this worker would not help). */
export function resolveTofuBin(opts: TofuToolOptions): string {
  const bin = opts.bin || process.env.TOFU_BIN || process.env.TERRAFORM_BIN || readTools().TOFU_BIN_RESOLVED;
  if (!bin || !fs.existsSync(bin)) {
    throw ApplicationFailure.create({
      type: ErrorCode.TOOL_NOT_FOUND,
      nonRetryable: true,
      message: bin
        ? `OpenTofu binary ${bin} does not exist`
        : 'no OpenTofu binary: set TOFU_BIN or TERRAFORM_BIN, or run bash scripts/get-tools.sh',
    });
  }
  return bin;
}

/**
 * What the OpenTofu executors still lack on this worker, as get-tools.sh names its steps: `tofu` (the binary) or
 * `providers` (the mirror's CLI config); undefined when both are there. Read afresh on every call, so a tool that
 * appears while the worker runs is seen at once.
 */
export function missingTofuTool(opts: TofuToolOptions = {}): 'tofu' | 'providers' | undefined {
  const bin = opts.bin || process.env.TOFU_BIN || process.env.TERRAFORM_BIN || readTools().TOFU_BIN_RESOLVED;
  if (!bin || !fs.existsSync(bin)) return 'tofu';
  const cliConfig = resolveCliConfig(opts);
  return cliConfig && fs.existsSync(cliConfig) ? undefined : 'providers';
}

function toolsEnvValue(key: string): string | undefined {
  const file = path.join(cacheDir(), 'tools.env');
  if (!fs.existsSync(file)) return undefined;
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(fs.readFileSync(file, 'utf8'));
  return m?.[1].trim() || undefined;
}

/**
 * The CLI config that points init at the provider mirror. readTools() lets the process environment win,
 * but a `TF_CLI_CONFIG_FILE` naming a file that does not exist (some machines export one by default)
 * would silently send init to the network registry, which is unreachable here; fall back to tools.env's.
 */
export function resolveCliConfig(opts: TofuToolOptions): string | undefined {
  if (opts.cliConfigFile) return opts.cliConfigFile;
  const fromTools = readTools().TF_CLI_CONFIG_FILE;
  if (fromTools && fs.existsSync(fromTools)) return fromTools;
  return toolsEnvValue('TF_CLI_CONFIG_FILE');
}

/** Stack context every config may declare as optional variables; undeclared `TF_VAR_*` are ignored. */
export interface StackContextVars {
  stack: string;
  environment: string;
  dataDir: string;
}

/** The child environment: automation mode, mirror config, no plugin cache, no inherited TF_CLI_ARGS. */
export function toolEnv(cliConfig: string | undefined, vars: StackContextVars): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) {
    // Inherited argument injection or a shared data/plugin dir would make runs differ from their plans.
    if (k.startsWith('TF_CLI_ARGS') || k === 'TF_DATA_DIR' || k === 'TF_WORKSPACE' || k === 'TF_PLUGIN_CACHE_DIR') {
      delete env[k];
    }
    // Stack-declared variables come only from the durable snapshot, never from the worker's environment.
    if (k.startsWith('TF_VAR_')) delete env[k];
  }
  if (cliConfig) env.TF_CLI_CONFIG_FILE = cliConfig;
  else delete env.TF_CLI_CONFIG_FILE;
  env.TF_IN_AUTOMATION = '1';
  env.TF_INPUT = '0';
  env.CHECKPOINT_DISABLE = '1';
  // Lowest precedence: a stack's own tfvars or the run's variables override these.
  env.TF_VAR_strata_stack = vars.stack;
  env.TF_VAR_strata_environment = vars.environment;
  env.TF_VAR_strata_data_dir = vars.dataDir;
  return env;
}
