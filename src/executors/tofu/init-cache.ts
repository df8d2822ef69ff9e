/**
 * Initialized workspaces reused per worker: `init` writes the same `.terraform` (provider links into the mirror,
 * module copies, backend settings) and `.terraform.lock.hcl` for the same configuration files, so a run's
 * workspace gets a copy of an earlier run's instead of running `init` again. Keyed by the configuration files
 * (the lock file among them), the environment, the tool binary and its CLI configuration (the provider mirror):
 * a run whose configuration or lock file changed initializes afresh. Other variables are not in the key: the tool
 * itself refuses to plan when what it initialized no longer matches (a backend or module source that changed
 * asks for init).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutorContext } from '../types';
import { sha256 } from './workspace';

/** What `init` leaves in a workspace, besides the configuration itself. */
const INIT_OUTPUTS = ['.terraform', '.terraform.lock.hcl'];

/** The cache entry of a configuration on this worker: `<workDir>/.init-cache/<stack>/<key>`. */
export function initCacheDir(
  ctx: Pick<ExecutorContext, 'workDir' | 'stack' | 'environment'>,
  files: Record<string, string>,
  tool: string,
): string {
  // The environment too: a backend or module source may name it (OpenTofu evaluates variables that early).
  const key = sha256(JSON.stringify([tool, ctx.environment, files])).slice(0, 32);
  return path.join(ctx.workDir, '.init-cache', ctx.stack, key);
}

/** Copies a cached init into `dir`; false when there is none (then run init and `saveInit`). */
export function restoreInit(cacheDir: string, dir: string): boolean {
  if (!fs.existsSync(path.join(cacheDir, '.complete'))) return false;
  for (const name of INIT_OUTPUTS) {
    const from = path.join(cacheDir, name);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(dir, name), { recursive: true, verbatimSymlinks: true });
  }
  return true;
}

/** Keeps what `init` wrote in `dir` for the next run of the same configuration (best effort, atomic). */
export function saveInit(cacheDir: string, dir: string): void {
  if (fs.existsSync(path.join(cacheDir, '.complete'))) return;
  const tmp = `${cacheDir}.${randomUUID()}.tmp`;
  try {
    fs.mkdirSync(tmp, { recursive: true });
    for (const name of INIT_OUTPUTS) {
      const from = path.join(dir, name);
      if (fs.existsSync(from)) fs.cpSync(from, path.join(tmp, name), { recursive: true, verbatimSymlinks: true });
    }
    fs.writeFileSync(path.join(tmp, '.complete'), '');
    fs.renameSync(tmp, cacheDir);
  } catch {
    // Another run of the same configuration saved it first, or the disk is full: the next run inits again.
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
