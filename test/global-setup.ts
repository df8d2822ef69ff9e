/**
 * Runs once before all test files: obtains the pinned tools (temporal CLI, OpenTofu, providers mirror, moto)
 * from the registries, or from the user cache when already built, exports their paths, and bundles the
 * workflows once so each test file's workers start in milliseconds. Workers inherit this environment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { resolveTools } from './helpers/tools';

export default async function globalSetup(): Promise<void> {
  const tools = resolveTools();
  for (const [k, v] of Object.entries(tools)) if (v) process.env[k] = v;
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bundle-')), 'workflows.js');
  fs.writeFileSync(file, code);
  process.env.STRATA_WORKFLOW_BUNDLE = file;
}
