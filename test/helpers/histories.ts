/**
 * Records workflow histories for the replay suite. Run a test with STRATA_RECORD_HISTORIES=1 to (re)write
 * `test/replay/histories/<name>.json`; commit them so later workflow changes must replay against them.
 * The temporal CLI writes the JSON form that `historyFromJSON` reads back.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { toolPath } from './tools';

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'replay', 'histories');

export async function recordHistory(address: string, workflowId: string, name: string): Promise<void> {
  if (!process.env.STRATA_RECORD_HISTORIES) return;
  const json = execFileSync(
    toolPath('TEMPORAL_CLI'),
    ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json'],
    { encoding: 'utf8' },
  );
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), json);
}
