/** The example platform stacks (network, db, app) and a few more for graphs, over testConfig's temp dirs. */
import path from 'node:path';
import { testConfig } from './temporal';

const root = path.resolve(__dirname, '..', '..');
const sim = (dir: string) => ({
  executor: 'simulated',
  path: path.join(root, 'stacks', dir),
  failoverOrder: ['aws', 'gcp', 'azure'],
});

/** The stacks a release test deploys: the repository's sim-network/sim-db/sim-app, sim-cache (a second db) and sim-multicloud. */
export function releaseStacks(): Record<string, unknown> {
  return {
    'sim-network': sim('sim-network'),
    'sim-db': sim('sim-db'),
    'sim-cache': sim('sim-db'),
    'sim-app': sim('sim-app'),
    'sim-multicloud': { ...sim('sim-multicloud'), verify: [{ type: 'output', output: 'healthy', equals: true }] },
    'hello-local': { executor: 'tofu', path: path.join(root, 'stacks/hello-local') },
  };
}

/** testConfig with the release stacks and the repository's releases/, policies/ and pricing/. */
export function releaseConfig(overrides: Record<string, unknown> = {}) {
  return testConfig({ stacks: releaseStacks(), releases: { dir: path.join(root, 'releases') }, ...overrides });
}
