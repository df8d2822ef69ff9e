/**
 * A fresh `npm start` serves while OpenTofu is still being built in the background (scripts/get-tools.sh). A tofu
 * run requested meanwhile waits, saying so in its log, and goes on by itself once the binary appears: no restart.
 * Unreadiness is real, not mocked: the worker's tools.env (a cache of this test's own, STRATA_CACHE) names an
 * OpenTofu binary that does not exist yet, and tools-build.json says a build is running; the test then links the
 * real binary there, as the build's rename into the cache would. Plans do not wait for OPA: the shipped policies
 * are judged by their committed Wasm bundle until it is there (edited policies do wait, see
 * test/activities/policy-wasm.test.ts). A run cancelled while it waits is cancelled at once. Without a build running, a missing binary still fails the run at once
 * (TOOL_NOT_FOUND): waiting for a build that nobody runs would never end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolsBuildFile } from '../../src/shared/tools';
import { eventually, testConfig, useStrata } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

// The real tools, read before the test points the worker at a cache of its own.
const realTofu = toolPath('TOFU_BIN_RESOLVED');
const realOpa = toolPath('OPA_BIN');
const realCliConfig = toolPath('TF_CLI_CONFIG_FILE');
const temporalCli = toolPath('TEMPORAL_CLI');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tools-not-ready-'));
const cache = path.join(dir, 'cache');
const pendingTofu = path.join(cache, 'tofu-v1.12.6', 'tofu');
const saved: Record<string, string | undefined> = {};

function writeToolsEnv(tofu: string, opa = realOpa): void {
  const lines = [
    `TEMPORAL_CLI=${temporalCli}`,
    `TOFU_BIN_RESOLVED=${tofu}`,
    `TF_CLI_CONFIG_FILE=${realCliConfig}`,
    `OPA_BIN=${opa}`,
  ];
  fs.writeFileSync(path.join(cache, 'tools.env'), `${lines.join('\n')}\n`);
}

/** The build: this process stands for get-tools.sh (alive for as long as the test runs), 40 s into `tool`. */
function writeBuildStatus(tool: 'opa' | 'tofu'): void {
  const labels = { opa: 'OPA v1.22.4', tofu: 'OpenTofu v1.12.6', providers: 'the OpenTofu providers' };
  const now = Date.now();
  fs.writeFileSync(
    toolsBuildFile(),
    JSON.stringify({
      pid: process.pid,
      startedAt: now - 100_000,
      stepStartedAt: now - 40_000,
      step: tool === 'opa' ? 2 : 3,
      steps: 6,
      tool,
      label: labels[tool],
      labels,
    }),
  );
}

// Before useStrata's beforeAll starts the worker: it must find its tools through this cache alone.
beforeAll(() => {
  for (const k of ['STRATA_CACHE', 'TOFU_BIN_RESOLVED', 'TOFU_BIN', 'TERRAFORM_BIN', 'OPA_BIN']) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  process.env.STRATA_CACHE = cache;
  fs.mkdirSync(cache, { recursive: true });
  writeToolsEnv(pendingTofu);
  writeBuildStatus('tofu');
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
    expect((await logOf(id)).some((m) => /^OpenTofu v1\.12\.6 ready after waiting \d+ s; going on$/.test(m))).toBe(
      true,
    );
  });

  it('a run cancelled while it waits is cancelled at once (the waiting activity heartbeats)', async () => {
    writeToolsEnv(path.join(dir, 'still-building', 'tofu'));
    const id = await s.http.deploy('alice', { stack: 'hello-local', environment: 'dev' });
    await eventually(
      async () => (await logOf(id)).some((m) => m.startsWith('waiting for OpenTofu v1.12.6')),
      'the run to wait for OpenTofu',
      30_000,
    );
    expect((await s.http.post('alice', `/api/v1/deployments/${id}/cancel`)).status).toBe(202);
    await s.http.waitFor(id, ['cancelled'], 20_000);
  });

  it('a simulated plan does not wait for OPA: the shipped policies are judged by their Wasm bundle meanwhile', async () => {
    const pendingOpa = path.join(cache, 'opa-v1.22.4', 'opa');
    writeToolsEnv(realTofu, pendingOpa);
    writeBuildStatus('opa');
    const id = await s.http.deploy('alice', { stack: 'sim-multicloud', environment: 'dev' });
    const done = await s.http.waitFor(id, ['succeeded'], 60_000);
    // Judged, not waved through: no evaluation failure among the findings.
    expect(JSON.stringify(done)).not.toContain('evaluation_failed');
    const log = await logOf(id);
    expect(log).toContain(
      'shipped policies judged by their compiled Wasm bundle (OPA 1.22.4, same sources) because OPA is still being built on this worker',
    );
    expect(log.filter((m) => m.startsWith('waiting for OPA'))).toEqual([]);
  });

  it('a tofu run while OpenTofu and OPA are both being built waits for OpenTofu only', async () => {
    const pendingOpa = path.join(cache, 'opa-v1.22.4', 'opa');
    const nextTofu = path.join(cache, 'tofu-next', 'tofu');
    writeToolsEnv(nextTofu, pendingOpa);
    writeBuildStatus('tofu');
    // Another message than the first run's: a plan with changes, which the policies judge.
    const id = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'dev',
      variables: { message: 'judged while OPA builds' },
    });
    await eventually(
      async () => (await logOf(id)).some((m) => m.startsWith('waiting for OpenTofu v1.12.6 to finish building')),
      'the run to wait for OpenTofu',
      30_000,
    );
    expect(['queued', 'planning']).toContain((await s.http.run(id)).status);
    fs.mkdirSync(path.dirname(nextTofu), { recursive: true });
    fs.symlinkSync(realTofu, nextTofu);
    const done = await s.http.waitFor(id, ['succeeded'], 60_000);
    expect(JSON.stringify(done)).not.toContain('evaluation_failed');
    const log = await logOf(id);
    expect(log.some((m) => m.startsWith('shipped policies judged by their compiled Wasm bundle'))).toBe(true);
    expect(log.filter((m) => m.startsWith('waiting for OPA'))).toEqual([]);
  });

  it('once OPA is there, real OPA judges the plans again', async () => {
    const pendingOpa = path.join(cache, 'opa-v1.22.4', 'opa');
    fs.mkdirSync(path.dirname(pendingOpa), { recursive: true });
    fs.symlinkSync(realOpa, pendingOpa);
    // A change to the stack the first simulated run deployed, so there is a plan to judge.
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 1 },
    });
    const done = await s.http.waitFor(id, ['succeeded'], 60_000);
    expect(JSON.stringify(done)).not.toContain('evaluation_failed');
    expect((await logOf(id)).filter((m) => m.includes('Wasm bundle'))).toEqual([]);
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
