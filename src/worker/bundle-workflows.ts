/**
 * The workflow bundle, built in a child process. Bundling with webpack inside the worker left ~300 MiB of its
 * memory in the worker's RSS for as long as the worker ran (V8 and the allocator keep what a peak took); a child
 * that exits gives all of it back. Run directly (`node --import tsx bundle-workflows.ts <out.js>`), it writes the
 * bundle to the file it is given.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** Bundles src/workflows in a child process (this process's node flags, so it runs from source too); the file. */
export async function bundleWorkflowsOutOfProcess(): Promise<string> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-workflows-')), 'workflows.js');
  const child = spawn(process.execPath, [...process.execArgv, __filename, out], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0 || !fs.existsSync(out)) throw new Error(`bundling the workflows failed (exit ${code})`);
  return out;
}

async function writeBundle(out: string): Promise<void> {
  const quiet = () => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { trace: quiet, debug: quiet, info: quiet, log: quiet, warn: console.warn, error: console.error },
  });
  fs.writeFileSync(out, code);
}

if (require.main === module) {
  writeBundle(process.argv[2]).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
