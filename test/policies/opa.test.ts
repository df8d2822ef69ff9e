/**
 * The shipped Rego policies compile and their own unit tests (policies/*_test.rego) pass under the pinned OPA,
 * inside `npm test`; and the activity's evaluation of a real `opa eval` reads deny and warn findings by policy.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluatePolicies } from '../../src/activities/policy/opa';
import { toolPath } from '../helpers/tools';

const dir = path.resolve(__dirname, '..', '..', 'policies');

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
