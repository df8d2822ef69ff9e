/**
 * A release definition resolves into waves with every stack's run input, from inline bodies and release files;
 * everything that would fail later is refused first, naming the field: unknown stacks, variables and outputs, a
 * stack listed twice, a cycle in order.
 */
import { resolveRelease, releaseRequestOf } from '../../src/api/releases/definition';
import { SIMULATED_OUTPUTS } from '../../src/api/releases/declared-outputs';
import { buildReleaseGraph } from '../../src/api/releases/graph';
import { computeOutputs } from '../../src/executors/simulated/outputs';
import { StrataError } from '../../src/shared/errors';
import { createStores } from '../../src/store';
import { releaseConfig } from '../helpers/release-fixture';

const config = releaseConfig();
const { state } = createStores(config.stateStore, config.artifactsDir);
const resolve = (body: Parameters<typeof releaseRequestOf>[1]) => {
  const { name, definition } = releaseRequestOf(config, body);
  return resolveRelease({ config, state }, definition, { id: 'rel-test', requestedBy: 'alice', name });
};
const refusal = async (body: Parameters<typeof releaseRequestOf>[1]): Promise<string> => {
  try {
    await resolve(body);
  } catch (err) {
    expect(err).toBeInstanceOf(StrataError);
    expect((err as StrataError).code).toBe('VALIDATION_FAILED');
    return (err as StrataError).message;
  }
  throw new Error('expected a refusal');
};

describe('release definition', () => {
  it('derives dependencies from inputs and explicit edges, and cuts waves', async () => {
    const input = await resolve({
      environment: 'dev',
      stacks: [
        {
          stack: 'sim-app',
          inputs: { database_endpoint: 'sim-db.database_endpoint', network_dns: 'sim-network.dns_name' },
        },
        { stack: 'sim-db', inputs: { network_dns: 'sim-network.dns_name' } },
        { stack: 'sim-network' },
        { stack: 'sim-multicloud' },
      ],
      dependencies: [{ from: 'sim-app', to: 'sim-multicloud' }],
    });
    expect(input.waves).toEqual([['sim-network'], ['sim-db'], ['sim-app'], ['sim-multicloud']]);
    expect(input.edges).toEqual(
      expect.arrayContaining([
        { from: 'sim-db', to: 'sim-app' },
        { from: 'sim-network', to: 'sim-app' },
        { from: 'sim-network', to: 'sim-db' },
        { from: 'sim-app', to: 'sim-multicloud' },
      ]),
    );
    const app = input.stacks.find((s) => s.stack === 'sim-app')!;
    expect(app.dependsOn.sort()).toEqual(['sim-db', 'sim-network']);
    expect(app.inputs).toEqual(
      expect.arrayContaining([
        {
          variable: 'database_endpoint',
          stack: 'sim-db',
          output: 'database_endpoint',
          hasDefault: true,
          takesText: true,
        },
      ]),
    );
    // The same input a single deployment gets: the environment's policies frozen at request time.
    expect(app.run).toMatchObject({
      kind: 'deploy',
      stack: 'sim-app',
      environment: 'dev',
      requestedBy: 'alice',
      approvalPolicy: { required: 0 },
    });
    expect(input).toMatchObject({ onFailure: 'stop', dryRun: false, maxParallel: 4, approval: 'release' });
  });

  it('runs a diamond’s middle in one wave', async () => {
    const input = await resolve({
      environment: 'prod',
      stacks: [
        { stack: 'sim-network' },
        { stack: 'sim-db', inputs: { network_dns: 'sim-network.dns_name' } },
        { stack: 'sim-cache', inputs: { network_dns: 'sim-network.dns_name' } },
        {
          stack: 'sim-app',
          inputs: { database_endpoint: 'sim-db.database_endpoint', network_dns: 'sim-cache.database_endpoint' },
        },
      ],
    });
    expect(input.waves).toEqual([['sim-network'], ['sim-db', 'sim-cache'], ['sim-app']]);
    expect(input.approvalPolicy).toMatchObject({ required: 2, fourEyes: true });
  });

  it('reads releases/<name>.yaml, and lets the request pick another environment', async () => {
    const input = await resolve({ name: 'platform', environment: 'staging' });
    expect(input).toMatchObject({ name: 'platform', environment: 'staging', onFailure: 'rollback', maxParallel: 2 });
    expect(input.waves).toEqual([['sim-network'], ['sim-db'], ['sim-app']]);
    const explicit = await resolve({ name: 'data-tier' });
    expect(explicit.waves).toEqual([['sim-network'], ['sim-db']]);
    expect(await refusal({ name: 'nope' })).toMatch(/no release file named "nope" in releases\/ \(known: .*platform/);
  });

  it('names a cycle in order', async () => {
    const message = await refusal({
      environment: 'dev',
      stacks: [
        { stack: 'sim-network', inputs: { cidr: 'sim-app.dns_name' } },
        { stack: 'sim-db', inputs: { network_dns: 'sim-network.dns_name' } },
        { stack: 'sim-app', inputs: { database_endpoint: 'sim-db.database_endpoint' } },
      ],
    });
    expect(message).toContain('dependency cycle: sim-network → sim-db → sim-app → sim-network');
    // Explicit edges close cycles too.
    const g = buildReleaseGraph(
      [{ stack: 'a' }, { stack: 'b' }],
      [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
      ],
      () => true,
    );
    expect(g.problems).toEqual([{ path: 'dependencies', message: 'dependency cycle: a → b → a' }]);
  });

  it('refuses unknown stacks, a stack listed twice, self-references and dangling dependencies', async () => {
    expect(await refusal({ environment: 'dev', stacks: [{ stack: 'sim-nope' }] })).toContain(
      'body.stacks.0.stack: unknown stack "sim-nope"',
    );
    expect(await refusal({ environment: 'dev', stacks: [{ stack: 'sim-db' }, { stack: 'sim-db' }] })).toContain(
      'stack sim-db is listed twice',
    );
    expect(
      await refusal({ environment: 'dev', stacks: [{ stack: 'sim-db', inputs: { network_dns: 'sim-db.dns_name' } }] }),
    ).toContain('cannot take an input from its own output');
    expect(
      await refusal({
        environment: 'dev',
        stacks: [{ stack: 'sim-db' }],
        dependencies: [{ from: 'sim-network', to: 'sim-db' }],
      }),
    ).toContain('body.dependencies.0.from: dependency names sim-network, which is not a stack of this release');
    expect(await refusal({ environment: 'qa', stacks: [{ stack: 'sim-db' }] })).toContain(
      'body.environment: unknown environment "qa"',
    );
  });

  it('refuses unknown outputs against what the stack declares, and unknown or doubly given variables', async () => {
    const unknownOutput = await refusal({
      environment: 'dev',
      stacks: [{ stack: 'sim-network' }, { stack: 'sim-db', inputs: { network_dns: 'sim-network.vpc_id' } }],
    });
    expect(unknownOutput).toContain(
      'body.stacks.1.inputs.network_dns: unknown output sim-network.vpc_id: sim-network declares: provider, region',
    );
    const tofu = await refusal({
      environment: 'dev',
      stacks: [{ stack: 'hello-local' }, { stack: 'sim-db', inputs: { network_dns: 'hello-local.filez' } }],
    });
    expect(tofu).toContain('unknown output hello-local.filez: hello-local declares: files, output_dir');
    expect(
      await refusal({
        environment: 'dev',
        stacks: [{ stack: 'sim-network' }, { stack: 'sim-db', inputs: { network: 'sim-network.dns_name' } }],
      }),
    ).toContain('body.stacks.1.inputs.network: stack sim-db declares no variable network');
    expect(
      await refusal({
        environment: 'dev',
        stacks: [
          { stack: 'sim-network' },
          { stack: 'sim-db', variables: { network_dns: 'x' }, inputs: { network_dns: 'sim-network.dns_name' } },
        ],
      }),
    ).toContain('variable network_dns is given both a value and an input');
    expect(await refusal({ environment: 'dev', stacks: [{ stack: 'sim-db', variables: { db_sise: 'x' } }] })).toContain(
      'body.stacks.0.variables: unknown variable "db_sise"',
    );
  });

  it('knows the simulated executor’s outputs', () => {
    const outputs = computeOutputs(
      [],
      { provider: 'aws', region: 'r', dryRun: false },
      {
        failApplyOnResource: 0,
        latencyMsPerResource: 0,
        unavailableProviders: [],
        driftAfterApply: false,
        failVerify: false,
      },
    );
    expect([...SIMULATED_OUTPUTS].sort()).toEqual(Object.keys(outputs).sort());
  });
});
