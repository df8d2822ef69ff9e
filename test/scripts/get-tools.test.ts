/**
 * scripts/get-tools.sh as `npm start` relies on it when it builds in the background: tools.env gains each tool as
 * soon as it is there (a later step failing keeps the earlier ones usable), tools-build.json describes the build
 * only while it runs, and a second run (`npm test` beside a first `npm start`) waits for a build still running
 * rather than build the same tools beside it. Every tool is the real cached one, handed in through the scripts'
 * own overrides, so nothing is built here.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { poll } from '../helpers/poll';
import { toolPath } from '../helpers/tools';

const ROOT = path.resolve(__dirname, '..', '..');
const real = {
  temporal: toolPath('TEMPORAL_CLI'),
  tofu: toolPath('TOFU_BIN_RESOLVED'),
  opa: toolPath('OPA_BIN'),
  moto: toolPath('MOTO_SERVER'),
  tofurc: toolPath('TF_CLI_CONFIG_FILE'),
  testServer: toolPath('TEMPORAL_TEST_SERVER'),
};

const caches: string[] = [];
afterAll(() => caches.forEach((c) => fs.rmSync(c, { recursive: true, force: true })));

function freshCache(): string {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-get-tools-'));
  caches.push(cache);
  // The provider mirror has no override: the cached one, under the name get-providers.sh looks for.
  const mirror = path.dirname(real.tofurc);
  fs.symlinkSync(mirror, path.join(cache, path.basename(mirror)));
  return cache;
}

function toolsEnv(cache: string, env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, STRATA_CACHE: cache };
  for (const k of ['TOFU_VERSION', 'OPA_VERSION', 'TF_CLI_CONFIG_FILE']) delete base[k];
  return { ...base, ...env };
}

function getTools(cache: string, env: Record<string, string | undefined>) {
  return spawnSync('bash', ['scripts/get-tools.sh'], { cwd: ROOT, env: toolsEnv(cache, env), encoding: 'utf8' });
}

const overrides = {
  TEMPORAL_BIN: real.temporal,
  OPA_BIN: real.opa,
  TOFU_BIN: real.tofu,
  MOTO_SERVER_BIN: real.moto,
  TEMPORAL_TEST_SERVER_BIN: real.testServer,
};

describe('scripts/get-tools.sh', () => {
  it('writes every tool in the usual order, leaves no status file, and rewrites nothing the second time', () => {
    const cache = freshCache();
    const res = getTools(cache, overrides);
    expect(res.status).toBe(0);
    const envFile = path.join(cache, 'tools.env');
    expect(res.stdout.trim()).toBe(envFile);
    const keys = fs
      .readFileSync(envFile, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split('=')[0]);
    expect(keys).toEqual([
      'TEMPORAL_CLI',
      'TOFU_BIN_RESOLVED',
      'TF_CLI_CONFIG_FILE',
      'MOTO_SERVER',
      'OPA_BIN',
      'TEMPORAL_TEST_SERVER',
    ]);
    expect(fs.existsSync(path.join(cache, 'tools-build.json'))).toBe(false);
    const mtime = fs.statSync(envFile).mtimeMs;
    expect(getTools(cache, overrides).status).toBe(0);
    expect(fs.statSync(envFile).mtimeMs).toBe(mtime);
  });

  it('publishes each tool as it is obtained: a later step failing keeps the earlier ones', () => {
    const cache = freshCache();
    // No Go on PATH and no OPA_BIN: OPA (step 2) cannot be built, after the Temporal CLI (step 1) was obtained.
    const res = getTools(cache, { ...overrides, OPA_BIN: undefined, PATH: '/usr/bin:/bin' });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('no Go toolchain to build OPA');
    const text = fs.readFileSync(path.join(cache, 'tools.env'), 'utf8');
    expect(text).toContain(`TEMPORAL_CLI=${real.temporal}\n`);
    expect(text).not.toContain('OPA_BIN=');
    // Failed or not, it is over: no worker may wait for it.
    expect(fs.existsSync(path.join(cache, 'tools-build.json'))).toBe(false);
  });

  it('waits for a build already running, leaving its status file alone, then finds everything cached', async () => {
    const cache = freshCache();
    const status = path.join(cache, 'tools-build.json');
    // A process of this test's own stands for the running build.
    const build = spawn('sleep', ['600'], { stdio: 'ignore' });
    const running = JSON.stringify({ pid: build.pid, stepStartedAt: Date.now(), step: 3, steps: 6, tool: 'tofu' });
    fs.writeFileSync(status, running);
    const second = spawn('bash', ['scripts/get-tools.sh'], { cwd: ROOT, env: toolsEnv(cache, overrides) });
    let stderr = '';
    second.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => second.once('exit', resolve));
    try {
      await poll(() => stderr.includes(`waiting for the tools build already running (pid ${build.pid}`), {
        what: 'get-tools.sh to wait for the running build',
        timeoutMs: 20_000,
        everyMs: 100,
      });
      expect(fs.readFileSync(status, 'utf8')).toBe(running);
      expect(fs.existsSync(path.join(cache, 'tools.env'))).toBe(false);
    } finally {
      build.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(fs.readFileSync(path.join(cache, 'tools.env'), 'utf8')).toContain(`TOFU_BIN_RESOLVED=${real.tofu}\n`);
    expect(fs.existsSync(status)).toBe(false);
  });
});
