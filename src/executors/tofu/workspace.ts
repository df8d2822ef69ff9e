/**
 * Config snapshots and worker-local workspaces. The snapshot (a JSON document of the stack's files plus
 * the variables to pass) is the durable truth, stored in the artifact store; a workspace is a cache that
 * any worker rebuilds from it, so plan and apply may run on different machines.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode, StrataError } from '../../shared/errors';
import type { ConfigSnapshot, ExecutorContext, ExecutorKind } from '../types';

/** What `runs/<runId>/config.json` holds. */
export interface ConfigDocument {
  version: 1;
  /** Relative path → file content. */
  files: Record<string, string>;
  /** Written as `strata.auto.tfvars.json` in the workspace (empty for CDKTF: synth baked them in). */
  tfvars: Record<string, unknown>;
  /**
   * Variables given by reference, variable → secret name: kept in the snapshot (and its digest) as names, the values
   * reach the tool only as TF_VAR_<variable> of its process.
   */
  secrets?: Record<string, string>;
}

export const TFVARS_FILE = 'strata.auto.tfvars.json';
/** The local backend's state file in a workspace. */
export const STATE_FILE = 'terraform.tfstate';
const DIGEST_MARKER = '.strata-digest';
const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** sha256 hex of a string or bytes. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function isConfigFile(name: string): boolean {
  if (/\.tfstate(\.|$)/.test(name)) return false;
  return /\.(tf|tf\.json|tfvars|tfvars\.json)$/.test(name) || name === '.terraform.lock.hcl';
}

/** Reads a stack directory's configuration files (recursively, for local modules), sorted by path. */
export function collectStackFiles(root: string): Record<string, string> {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    throw ApplicationFailure.create({
      type: ErrorCode.STACK_NOT_FOUND,
      nonRetryable: true,
      message: `stack directory ${root} does not exist`,
    });
  }
  const files: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        // .terraform (providers), node_modules and cdktf.out are build output, not configuration.
        if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === 'cdktf.out') continue;
        walk(relPath);
      } else if (e.isFile() && isConfigFile(e.name)) {
        files[relPath] = fs.readFileSync(path.join(root, relPath), 'utf8');
      }
    }
  };
  walk('');
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}

/** Stores a snapshot document as `runs/<runId>/config.json` and returns its ConfigSnapshot. */
export async function storeSnapshot(
  doc: ConfigDocument,
  executor: ExecutorKind,
  variables: Record<string, unknown>,
  ctx: ExecutorContext,
): Promise<ConfigSnapshot> {
  if (Object.keys(doc.files).length === 0) {
    throw ApplicationFailure.create({
      type: ErrorCode.CONFIG_INVALID,
      nonRetryable: true,
      message: `stack ${ctx.stack} has no .tf or .tf.json files`,
    });
  }
  const body = JSON.stringify(doc);
  const ref = `runs/${ctx.runId}/config.json`;
  await ctx.artifacts.put(ref, body);
  return { ref, digest: sha256(body), executor, variables };
}

/** `<workDir>/<stack>/<env>/<runId>`, refusing names that could escape the work dir. */
export function workspaceDir(ctx: ExecutorContext): string {
  for (const seg of [ctx.stack, ctx.environment, ctx.runId]) {
    if (!SAFE_SEGMENT.test(seg) || seg === '..' || seg === '.') {
      throw ApplicationFailure.create({
        type: ErrorCode.VALIDATION_FAILED,
        nonRetryable: true,
        message: `unsafe name for a workspace path: ${JSON.stringify(seg)}`,
      });
    }
  }
  return path.join(ctx.workDir, ctx.stack, ctx.environment, ctx.runId);
}

/** Runs `init` in a freshly materialized workspace (or restores a cached one); throws INIT_FAILED itself. */
export type InitRunner = (dir: string, files: Record<string, string>) => Promise<void>;

/**
 * Makes sure the workspace holds exactly the snapshot and is initialized. Init is skipped when this
 * worker already initialized that digest here; otherwise the directory is rebuilt from the artifact store.
 */
export async function materialize(config: ConfigSnapshot, ctx: ExecutorContext, init: InitRunner): Promise<string> {
  const dir = workspaceDir(ctx);
  const marker = path.join(dir, DIGEST_MARKER);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === config.digest) return dir;

  const body = await ctx.artifacts.get(config.ref).catch((e: unknown) => {
    // A snapshot that is gone will not come back on retry; a store outage might.
    if (e instanceof StrataError && e.code === ErrorCode.NOT_FOUND) {
      throw ApplicationFailure.create({
        type: ErrorCode.NOT_FOUND,
        nonRetryable: true,
        message: `config snapshot ${config.ref} is not in the artifact store`,
      });
    }
    throw e;
  });
  if (sha256(body) !== config.digest) {
    throw ApplicationFailure.create({
      type: ErrorCode.CONFIG_INVALID,
      nonRetryable: true,
      message: `config snapshot ${config.ref} does not match its digest ${config.digest}`,
    });
  }
  const doc = JSON.parse(body.toString('utf8')) as ConfigDocument;
  // Keep a state file left in this run's workspace: if a worker died mid-apply it may be the only record
  // of what the tool created (the executor reconciles it with the state store). Everything else goes.
  const statePath = path.join(dir, STATE_FILE);
  const leftState = fs.existsSync(statePath) ? fs.readFileSync(statePath) : undefined;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  if (leftState) fs.writeFileSync(statePath, leftState);
  for (const [rel, content] of Object.entries(doc.files)) {
    const target = path.resolve(dir, rel);
    if (!target.startsWith(dir + path.sep)) {
      throw ApplicationFailure.create({
        type: ErrorCode.CONFIG_INVALID,
        nonRetryable: true,
        message: `config snapshot path escapes the workspace: ${rel}`,
      });
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
  if (Object.keys(doc.tfvars).length > 0) {
    fs.writeFileSync(path.join(dir, TFVARS_FILE), JSON.stringify(doc.tfvars, null, 2));
  }
  await init(dir, doc.files);
  fs.writeFileSync(marker, config.digest);
  return dir;
}
