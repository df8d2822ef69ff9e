/**
 * The `strata` CLI as a person runs it: separate processes (bin/strata.js through tsx) against a real API, worker
 * and Temporal dev server, identity from STRATA_TOKEN, the API from STRATA_API.
 */
import { spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createApp } from '../../src/api/app';
import { TOKENS } from '../helpers/api-client';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'strata.js');
const config = testConfig();

interface Child {
  stdout: string;
  stderr: string;
  done: Promise<number>;
}

describe('strata CLI', () => {
  const s = useStrata(config);
  let server: Server;
  let apiUrl: string;

  beforeAll(async () => {
    server = createApp({ temporal: { client: s.env.client }, config }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  /** Starts a process; `argv[0]` 'strata' runs bin/strata.js, anything else runs through bash. */
  function start(argv: string[], env: Record<string, string> = {}): Child {
    const [cmd, args] =
      argv[0] === 'strata' ? [process.execPath, [BIN, ...argv.slice(1)]] : ['bash', ['-c', argv.join(' ')]];
    const child = spawn(cmd, args, {
      env: { ...process.env, STRATA_API: apiUrl, STRATA_BIN: `${process.execPath} ${BIN}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const c: Child = { stdout: '', stderr: '', done: Promise.resolve(0) };
    child.stdout.on('data', (b) => (c.stdout += b));
    child.stderr.on('data', (b) => (c.stderr += b));
    c.done = new Promise((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    return c;
  }
  async function strata(
    user: keyof typeof TOKENS,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const c = start(['strata', ...args], { STRATA_TOKEN: TOKENS[user] });
    const code = await c.done;
    return { code, stdout: c.stdout, stderr: c.stderr };
  }

  it('deploy --wait in one process completes once bob and carol approve from another; plan prints the table', async () => {
    const deploy = start(['strata', 'deploy', 'sim-multicloud', 'prod', '--var', 'instance_count=3', '--wait'], {
      STRATA_TOKEN: TOKENS.alice,
    });
    const id = await eventually(
      () => /run (\S+) started/.exec(deploy.stderr)?.[1],
      'deploy to print the run id',
      30_000,
    );
    await s.http.waitFor(id, ['awaiting_approval']);
    await eventually(() => deploy.stderr.includes('waiting for approvals (0/2)'), 'the waiting line', 10_000);

    const approvals = start([
      `STRATA_TOKEN=${TOKENS.bob} $STRATA_BIN approve ${id} --comment lgtm && STRATA_TOKEN=${TOKENS.carol} $STRATA_BIN approve ${id}`,
    ]);
    expect(await approvals.done).toBe(0);
    expect(approvals.stdout).toMatch(/approved: .* \(approvals 1 of 2\)/);
    expect(approvals.stdout).toMatch(/approved: .* \(approvals 2 of 2\)/);

    expect(await deploy.done).toBe(0);
    expect(deploy.stdout).toMatch(/deploy sim-multicloud → prod\s+succeeded/);
    expect(deploy.stdout).toMatch(/approvals: 2 of 2 · bob .* · carol/);
    // The progress bar: resources applied out of planned, ending full.
    expect(deploy.stderr).toMatch(/\[░+\] 0\/6 resources applied/);
    expect(deploy.stderr).toMatch(/succeeded\s+\[█{24}\] 6\/6 resources applied/);
    expect((await s.http.run(id)).approvals.map((a) => a.by)).toEqual(['bob', 'carol']);

    const plan = await strata('alice', 'plan', id);
    expect(plan.code).toBe(0);
    const lines = plan.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RESOURCE\s+TYPE\s+ACTION$/);
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringMatching(/^aws_instance\.web\[0\]\s+aws_instance\s+create$/)]),
    );
    expect(lines.filter((l) => / create$/.test(l))).toHaveLength(6);
    expect(plan.stdout).toMatch(/Plan: 6 to add, 0 to change, 0 to destroy\. Risk: low/);

    const json = await strata('alice', 'plan', id, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ add: 6, resources: expect.any(Array) });

    const logs = await strata('alice', 'logs', id, '-f');
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/approved by carol \(2\/2\)[\s\S]*status → succeeded/);

    const history = await strata('alice', 'history', 'sim-multicloud', 'prod');
    expect(history.stdout).toMatch(/^VERSION\s+KIND\s+RUN/);
    expect(history.stdout).toMatch(new RegExp(`^1 \\*\\s+deploy\\s+${id}\\s`, 'm'));
  });

  it("exits non-zero for a failed run with --wait, and with the API's words for a refusal", async () => {
    const failed = await strata(
      'alice',
      'deploy',
      'sim-multicloud',
      'dev',
      '--var',
      'instance_count=2',
      '--var',
      'fail_apply_on_resource=1',
      '--wait',
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/→ dev\s+(failed|rolled_back)/);

    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(id, ['queued', 'awaiting_approval']);
    const own = await strata('alice', 'approve', id);
    const direct = await s.http.post('alice', `/api/v1/deployments/${id}/approve`, {});
    expect(own.code).toBe(3);
    expect(own.stderr.trim()).toBe(`strata approve: ${direct.body.error.message}`);

    const unlock = await strata('bob', 'unlock', 'sim-multicloud', 'prod');
    expect(unlock.code).toBe(3);
    expect(unlock.stderr).toMatch(/bob needs one of the roles: admin/);
    expect((await strata('alice', 'cancel', id)).code).toBe(0);
    await s.http.waitFor(id, ['cancelled']);

    expect((await strata('alice', 'deploy')).code).toBe(2);
    const unreachable = await (async () => {
      const c = start(['strata', 'status', id], { STRATA_TOKEN: TOKENS.alice, STRATA_API: 'http://127.0.0.1:9' });
      return { code: await c.done, stderr: c.stderr };
    })();
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toMatch(/cannot reach the Strata API/);
  });
});
