/**
 * recordVersion is retried like any activity: a retry whose first attempt wrote the version (and then lost its
 * completion to a worker crash or a timeout) must get that version back, not a second one eating retention.
 */
import fs from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createIacActivities, type StateVersionSummary } from '../../src/activities/iac';
import { createExecutors } from '../../src/executors';
import { createStores } from '../../src/store';
import { createFsRunLog } from '../../src/store/run-log';
import type { PlanSummary } from '../../src/executors/types';
import { testConfig } from '../helpers/temporal';

describe('recordVersion activity', () => {
  const config = testConfig({});
  const stores = createStores(config.stateStore, config.artifactsDir);
  const activities = createIacActivities({
    config,
    executors: createExecutors(),
    artifacts: stores.artifacts,
    state: stores.state,
    runLog: createFsRunLog(config.artifactsDir),
  });
  const env = new MockActivityEnvironment();
  afterAll(() => fs.rmSync(config.workDir.replace(/\/work$/, ''), { recursive: true, force: true }));

  const plan: PlanSummary = {
    planRef: 'runs/run-rv/plan.json',
    planHash: 'a'.repeat(64),
    add: 0,
    change: 0,
    destroy: 0,
    hasChanges: false,
    destroyPlan: false,
    resources: [],
    stateSerial: 0,
    stateLineage: '',
    config: { ref: 'runs/run-rv/config.json', digest: 'd', executor: 'simulated', variables: {} },
  };
  const input = { runId: 'run-rv', stack: 'sim-multicloud', environment: 'dev', kind: 'deploy' as const, plan };

  test('called twice for one run and kind: one version, the same number both times', async () => {
    const first: StateVersionSummary = await env.run(activities.recordVersion, input);
    const retried: StateVersionSummary = await env.run(activities.recordVersion, input);
    expect(retried.version).toBe(first.version);
    expect(retried).toEqual(first);
    expect((await stores.state.listVersions('sim-multicloud', 'dev')).map((v) => v.version)).toEqual([first.version]);
    // The same run's rollback version is a different kind and gets its own number.
    const rollback: StateVersionSummary = await env.run(activities.recordVersion, {
      ...input,
      kind: 'rollback' as const,
      restoredFrom: 1,
    });
    expect(rollback.version).toBe(first.version + 1);
    expect((await stores.state.listVersions('sim-multicloud', 'dev')).map((v) => v.version)).toEqual([
      first.version + 1,
      first.version,
    ]);
  });
});
