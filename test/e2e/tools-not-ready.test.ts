/**
 * A fresh `npm start` serves while OpenTofu is still being built in the background (scripts/get-tools.sh). A tofu
 * run requested meanwhile waits, saying so in its log, and goes on by itself once the binary appears: no restart.
 * Unreadiness is real, not mocked: the worker's tools.env (a cache of this test's own, STRATA_CACHE) names an
 * OpenTofu binary that does not exist yet, and tools-build.json says a build is running; the test then links the
 * real binary there, as the build's rename into the cache would. Without a build running, a missing binary still
 * fails the run at once (TOOL_NOT_FOUND): waiting for a build that nobody runs would never end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolsBuildFile } from '../../src/shared/tools';
import { eventually, testConfig, useStrata } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

const realTofu = toolPath('TOFU_BIN_RESOLVED');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tools-not-ready-'));
const cache = path.join(dir, 'cache');
const pendingTofu = path.join(cache, 'tofu-v1.12.6', 'tofu');
const saved: Record<string, string | undefined> = {};

function writeToolsEnv(tofu: string): void {
  const lines = [
    `TEMPORAL_CLI=${toolPath('TEMPORAL_CLI')}`,
    `TOFU_BIN_RESOLVED=${tofu}`,
    `TF_CLI_CONFIG_FILE=${toolPath('TF_CLI_CONFIG_FILE')}`,
    `OPA_BIN=${toolPath('OPA_BIN')}`,
  ];
  fs.writeFileSync(path.join(cache, 'tools.env'), `${lines.join('\n')}\n`);
}

// Before useStrata's beforeAll starts the worker: it must find its tools through this cache alone.
beforeAll(() => {
  for (const k of ['STRATA_CACHE', 'TOFU_BIN_RESOLVED', 'TOFU_BIN', 'TERRAFORM_BIN']) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  process.env.STRATA_CACHE = cache;
  fs.mkdirSync(cache, { recursive: true });
  writeToolsEnv(pendingTofu);
  // The build: this process stands for get-tools.sh (alive for as long as the test runs), 40 s into OpenTofu.
  const now = Date.now();
  fs.writeFileSync(
    toolsBuildFile(),
    JSON.stringify({
      pid: process.pid,
      startedAt: now - 100_000,
      stepStartedAt: now - 40_000,
      step: 3,
      steps: 6,
      tool: 'tofu',
      label: 'OpenTofu v1.12.6',
      labels: { opa: 'OPA v1.22.4', tofu: 'OpenTofu v1.12.6', providers: 'the OpenTofu providers' },
    }),
  );
});

const s = useStrata(testConfig());

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

const logOf = async (id: string): Promise<string[]> =>
  ((await s.http.get('alice', `/api/v1/deployments/${id}/logs`)).body.items as { message: string }[]).map(
    (i) => i.message,
  );

describe('a tofu run requested while OpenTofu is still being built', () => {
  it('waits with an event saying so, then proceeds once the binary appears', async () => {
    const id = await s.http.deploy('alice', { stack: 'hello-local', environment: 'dev' });
    const waiting = await eventually(
      async () =>
        (await logOf(id)).find((m) =>
          /^waiting for OpenTofu v1\.12\.6 to finish building on this worker \(started \d+ s ago\)$/.test(m),
        ),
      'the run to say it waits for OpenTofu',
      30_000,
    );
    expect(Number(/started (\d+) s ago/.exec(waiting)![1])).toBeGreaterThanOrEqual(40);
    // Still waiting, not failed: the binary is not there.
    expect(['queued', 'planning']).toContain((await s.http.run(id)).status);

    fs.mkdirSync(path.dirname(pendingTofu), { recursive: true });
    fs.symlinkSync(realTofu, pendingTofu);
    const done = await s.http.waitFor(id, ['succeeded'], 60_000);
    expect(done.outputs).toBeDefined();
    expect((await logOf(id)).some((m) => /^OpenTofu v1\.12\.6 is ready after waiting \d+ s; going on$/.test(m))).toBe(
      true,
    );
  });

  it('fails at once as before when no build is running', async () => {
    fs.rmSync(toolsBuildFile(), { force: true });
    writeToolsEnv(path.join(dir, 'nowhere', 'tofu'));
    const id = await s.http.deploy('alice', { stack: 'hello-local', environment: 'dev' });
    const failed = await eventually(
      async () => {
        const d = await s.http.run(id);
        return d.status === 'failed' && d;
      },
      'the run to fail',
      30_000,
    );
    expect(JSON.stringify(failed.error)).toMatch(/TOOL_NOT_FOUND|does not exist/);
    expect((await logOf(id)).filter((m) => m.startsWith('waiting for OpenTofu'))).toEqual([]);
  });
});
