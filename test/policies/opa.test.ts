/**
 * The shipped Rego policies compile and their own unit tests (policies/*_test.rego) pass under the pinned OPA,
 * inside `npm test`; and the activity's evaluation of a real `opa eval` reads deny and warn findings by policy.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluatePolicies } from '../../src/activities/policy/opa';
import { OpaServer } from '../../src/activities/policy/opa-server';
import { poll } from '../helpers/poll';
import { toolPath } from '../helpers/tools';

const dir = path.resolve(__dirname, '..', '..', 'policies');

/** A prod plan with a public bucket and 18 instances: one deny, one warn from the shipped policies. */
const input = {
  environment: 'prod',
  flags: {},
  plan: {
    resource_changes: [
      {
        address: 'aws_bucket.assets',
        type: 'aws_bucket',
        action: 'create',
        before: null,
        after: { acl: 'public-read' },
      },
    ],
  },
  resources: Array.from({ length: 18 }, (_, i) => ({ address: `aws_instance.web[${i}]`, type: 'aws_instance' })),
  cost: null,
};

describe('policies/', () => {
  it('compiles strictly and passes opa test', () => {
    const opa = toolPath('OPA_BIN');
    execFileSync(opa, ['check', '--strict', dir]);
    const report = JSON.parse(execFileSync(opa, ['test', dir, '--format', 'json'], { encoding: 'utf8' })) as {
      name: string;
      package: string;
      fail?: boolean;
      error?: unknown;
    }[];
    const failed = report.filter((t) => t.fail || t.error);
    expect(failed).toEqual([]);
    // Every shipped policy has tests of its own.
    const packages = new Set(report.map((t) => t.package.replace(/^data\.strata\./, '').replace(/_test$/, '')));
    expect([...packages].sort()).toEqual(['cost_guard', 'database_deletion', 'instance_ceiling', 'no_public_buckets']);
    expect(report.length).toBeGreaterThanOrEqual(15);
  });

  it('evaluates with opa eval: findings by policy and rule, denies first', async () => {
    const results = await evaluatePolicies({ bin: toolPath('OPA_BIN'), dir, timeoutMs: 30_000 }, input);
    expect(results).toEqual([
      {
        policy: 'no_public_buckets',
        rule: 'public_bucket',
        level: 'deny',
        message: 'aws_bucket.assets would be public (acl public-read)',
      },
      {
        policy: 'instance_ceiling',
        rule: 'near_ceiling',
        level: 'warn',
        message: '18 instances in prod: near the ceiling of 20',
      },
    ]);
  });

  it('reports a policy that does not compile instead of passing it', async () => {
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rego-'));
    fs.writeFileSync(path.join(broken, 'bad.rego'), 'package strata.bad\n\ndeny contains msg if {\n');
    await expect(evaluatePolicies({ bin: toolPath('OPA_BIN'), dir: broken, timeoutMs: 30_000 }, {})).rejects.toThrow(
      /opa eval failed/,
    );
  });
});

describe("the worker's policy server", () => {
  const opaProcesses = () =>
    execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('run --server') && l.includes('strata-opa-'));

  it('answers what opa eval answers, picks up an edited policy, and reports one that stops compiling', async () => {
    const bin = toolPath('OPA_BIN');
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rego-'));
    fs.cpSync(dir, copy, { recursive: true });
    const server = new OpaServer(bin, copy);
    try {
      const viaEval = await evaluatePolicies({ bin, dir: copy, timeoutMs: 30_000 }, input);
      const viaServer = await evaluatePolicies({ bin, dir: copy, timeoutMs: 30_000, server }, input);
      expect(viaServer).toEqual(viaEval);
      expect(viaServer.length).toBeGreaterThan(0);
      // The evaluation went to the server (a second one reuses it, no opa process per call).
      expect(await server.evaluate(input, 5000)).toBeDefined();

      fs.writeFileSync(
        path.join(copy, 'extra.rego'),
        'package strata.extra\n\nimport rego.v1\n\nwarn contains "always" if { true }\n',
      );
      const edited = await evaluatePolicies({ bin, dir: copy, timeoutMs: 30_000, server }, input);
      expect(edited).toContainEqual({ policy: 'extra', rule: 'warn', level: 'warn', message: 'always' });

      fs.writeFileSync(path.join(copy, 'extra.rego'), 'package strata.extra\n\nwarn contains msg if {\n');
      await expect(evaluatePolicies({ bin, dir: copy, timeoutMs: 30_000, server }, input)).rejects.toThrow(
        /opa eval failed/,
      );
    } finally {
      server.stop();
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it('goes away with a worker that is SIGKILLed', async () => {
    const bin = toolPath('OPA_BIN');
    const script = [
      `const { OpaServer } = require(${JSON.stringify(path.resolve(__dirname, '../../src/activities/policy/opa-server.ts'))});`,
      `const s = new OpaServer(${JSON.stringify(bin)}, ${JSON.stringify(dir)});`,
      `s.evaluate({}, 20000).then(() => { console.log('ready'); setInterval(() => {}, 1000); });`,
    ].join('\n');
    const { spawn } = await import('node:child_process');
    const worker = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      worker.stdout.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      worker.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
    });
    const mine = () => opaProcesses().filter((l) => l.includes(`strata-opa-${worker.pid}-`));
    expect(mine().length).toBeGreaterThan(0);
    worker.kill('SIGKILL');
    await poll(() => mine().length === 0, {
      what: 'the opa server to stop after its worker died',
      timeoutMs: 10_000,
      everyMs: 50,
    });
    // Whatever its socket's fate, the next server started on the machine leaves no socket of a dead worker (once
    // reaped: a zombie still answers kill 0).
    if (worker.exitCode === null && worker.signalCode === null) await new Promise((r) => worker.once('exit', r));
    fs.writeFileSync(path.join(os.tmpdir(), `strata-opa-${worker.pid}-0badc0de.sock`), '');
    const next = new OpaServer(bin, dir);
    try {
      await next.evaluate({}, 20_000);
    } finally {
      next.stop();
    }
    const left = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`strata-opa-${worker.pid}-`));
    expect(left).toEqual([]);
  });
});
