/** The apply-lease test counts tool runs: a tool's own child, forked before it executes a plugin, is not a second run. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolRunsBelow } from '../helpers/worker-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('toolRunsBelow', () => {
  it('counts a tool and its same-named child as one run, and two separate tools as two', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tool-runs-'));
    // A "tool" whose child carries its command line (as a Go tool's fork does until it executes the plugin),
    // and a second, independent "tool" beside it.
    const script = `(exec -a '/bin/tofu apply child' sleep 30) & exec -a '/bin/tofu apply plan' sleep 30`;
    const one = spawn('bash', ['-c', script], { cwd: dir, stdio: 'ignore' });
    try {
      await sleep(500);
      const single = toolRunsBelow(dir, /\/tofu apply /);
      expect(single).toHaveLength(1);
      expect(single[0]).toMatch(/^\d+ \/bin\/tofu apply plan/);
      const two = spawn('bash', ['-c', `exec -a '/bin/tofu apply other' sleep 30`], { cwd: dir, stdio: 'ignore' });
      try {
        await sleep(500);
        expect(toolRunsBelow(dir, /\/tofu apply /)).toHaveLength(2);
      } finally {
        two.kill('SIGKILL');
      }
    } finally {
      one.kill('SIGKILL');
      // The child of the first is orphaned by the kill: end it too.
      for (const p of toolRunsBelow(dir, /\/tofu apply /)) process.kill(Number(p.split(' ')[0]), 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
