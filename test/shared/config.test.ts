import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfig } from '../../src/shared/config';
import { parseDuration } from '../../src/shared/duration';

const minimal = { environments: { dev: {} }, stacks: { a: { executor: 'simulated', path: 'stacks/a' } } };

describe('strata.yaml', () => {
  it('loads the quick start config with defaults filled in', () => {
    const c = loadConfig(path.resolve(__dirname, '../../strata.yaml'), {});
    expect(c.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'strata' });
    expect(c.environments.prod.approvals).toMatchObject({ required: 2, fourEyes: true, timeout: '72h' });
    expect(Object.keys(c.stacks)).toEqual([
      'hello-local',
      'web-aws',
      'sim-multicloud',
      'sim-network',
      'sim-db',
      'sim-app',
    ]);
    // Releases, policies and prices live in the repository, resolved against the config file's directory.
    expect(c.releases).toMatchObject({
      dir: path.resolve(__dirname, '../../releases'),
      maxParallel: 4,
      approval: 'release',
    });
    expect(c.policy).toMatchObject({ enabled: true, dir: path.resolve(__dirname, '../../policies') });
    expect(fs.existsSync(c.pricing.table)).toBe(true);
    expect(c.environments.prod.policy.allowOverride).toBe(false);
    expect(c.approvalSigning.signers.map((k) => k.id)).toEqual(['api', 'slack', 'release']);
    expect(c.failoverGroups.web.provider).toBe('simulated');
    // ${AWS_ENDPOINT_URL} unset: the field is dropped rather than left empty.
    expect(c.failoverGroups['web-aws'].endpoint).toBeUndefined();
    expect(path.isAbsolute(c.stacks['hello-local'].path)).toBe(true);
  });

  it('names the path of every bad field', () => {
    const bad = {
      environments: { dev: { approvals: { required: 'two' } } },
      stacks: { a: { executor: 'pulumi', path: 'x' } },
    };
    expect(() => parseConfig(bad, '/tmp', {})).toThrow(/environments\.dev\.approvals\.required: .*expected number/);
    expect(() => parseConfig(bad, '/tmp', {})).toThrow(/stacks\.a\.executor: /);
    expect(() =>
      parseConfig({ ...minimal, stacks: { a: { executor: 'tofu', path: 'x', environments: ['nope'] } } }, '/tmp', {}),
    ).toThrow(/stacks\.a\.environments: unknown environment "nope"/);
    expect(() =>
      parseConfig({ ...minimal, environments: { dev: { approvals: { timeout: 'soon' } } } }, '/tmp', {}),
    ).toThrow(/environments\.dev\.approvals\.timeout: expected a duration/);
    expect(() => parseConfig({ ...minimal, surprise: true }, '/tmp', {})).toThrow(/Unrecognized key.*surprise/);
  });

  it('refuses a workflow cache the workflow heap cannot hold (the isolate would run out of heap and stop the worker)', () => {
    // 2,500 cached workflows ran a 256 MiB isolate out of heap with 2,000 open deployment and lock workflows.
    expect(() => parseConfig({ ...minimal, worker: { maxCachedWorkflows: 2500 } }, '/tmp', {})).toThrow(
      /worker\.workflowHeapMb: 256 MiB cannot hold 2500 cached workflows .*at least 548/,
    );
    const fits = parseConfig({ ...minimal, worker: { maxCachedWorkflows: 2500, workflowHeapMb: 600 } }, '/tmp', {});
    expect(fits.worker).toMatchObject({ maxCachedWorkflows: 2500, workflowHeapMb: 600 });
    expect(parseConfig(minimal, '/tmp', {}).worker).toMatchObject({ maxCachedWorkflows: 250, workflowHeapMb: 256 });
  });

  it('lets the environment override where Temporal and the API live, and fills ${VAR}', () => {
    const c = parseConfig(
      {
        ...minimal,
        failoverGroups: {
          g: {
            provider: 'aws',
            endpoint: '${AWS_ENDPOINT_URL}',
            primary: { region: 'us-east-1' },
            secondary: { region: 'us-west-2' },
          },
        },
      },
      '/srv',
      {
        TEMPORAL_ADDRESS: '10.1.2.3:7233',
        TEMPORAL_NAMESPACE: 'infra',
        PORT: '9090',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      },
    );
    expect(c.temporal.address).toBe('10.1.2.3:7233');
    expect(c.temporal.namespace).toBe('infra');
    expect(c.api.port).toBe(9090);
    expect(c.failoverGroups.g.endpoint).toBe('http://127.0.0.1:5000');
    expect(c.stacks.a.path).toBe('/srv/stacks/a');
  });

  it('stops the worker at start-up with a message naming the bad field', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cfg-'));
    const file = path.join(dir, 'strata.yaml');
    fs.writeFileSync(file, 'environments:\n  dev: { approvals: { required: -1 } }\nstacks: {}\n');
    let out = '';
    try {
      execFileSync(path.resolve(__dirname, '../../node_modules/.bin/tsx'), ['src/worker/main.ts'], {
        cwd: path.resolve(__dirname, '../..'),
        env: { ...process.env, STRATA_CONFIG: file },
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (err) {
      out = String((err as { stderr?: string }).stderr);
      expect((err as { status?: number }).status).toBe(1);
    }
    expect(out).toMatch(/environments\.dev\.approvals\.required/);
  });

  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(() => parseDuration('3 weeks')).toThrow(/invalid duration/);
  });
});
