/**
 * A release's failure paths on the simulated executor and a real Temporal dev server: an injected apply failure
 * stops everything downstream, `onFailure: rollback` returns what the release changed to its previous version,
 * and cancelling a release cancels its running stack cleanly.
 */
import { lockStateQuery, stackLockWorkflowId } from '../../src/contracts/lock';
import { createStores } from '../../src/store';
import { releaseConfig } from '../helpers/release-fixture';
import { releases } from '../helpers/release-client';
import { eventually, useStrata } from '../helpers/temporal';

const chain = (environment: string, db: Record<string, unknown> = {}, network: Record<string, unknown> = {}) => ({
  environment,
  stacks: [
    { stack: 'sim-network', variables: network },
    { stack: 'sim-db', variables: db, inputs: { network_dns: 'sim-network.dns_name' } },
    {
      stack: 'sim-app',
      inputs: { database_endpoint: 'sim-db.database_endpoint', network_dns: 'sim-network.dns_name' },
    },
  ],
});

describe('release failures', () => {
  const config = releaseConfig({
    environments: {
      halt: { approvals: { required: 0 } },
      undo: { approvals: { required: 0 } },
      stop: { approvals: { required: 0 } },
    },
  });
  const s = useStrata(config);
  const { state } = createStores(config.stateStore, config.artifactsDir);
  const rel = () => releases(s.http);

  it('stops what depends on a failed stack: an apply failure in db means app never starts', async () => {
    const id = await rel().start('alice', chain('halt', { fail_apply_on_resource: 1 }));
    const r = await rel().waitFor(id, ['failed']);
    const [net, db, app] = ['sim-network', 'sim-db', 'sim-app'].map((n) => r.stacks.find((x) => x.stack === n)!);
    expect(net.status).toBe('succeeded');
    expect(db).toMatchObject({ status: 'failed', error: { code: 'APPLY_FAILED' } });
    expect(app).toMatchObject({ status: 'skipped', reason: 'not started: it depends on sim-db, which failed' });
    expect(app.runId).toBeUndefined();
    expect(r.error).toMatchObject({
      code: 'RELEASE_STACK_FAILED',
      message: expect.stringContaining('sim-db failed: APPLY_FAILED'),
    });
    // Stop means stop: the network this release changed stays as applied.
    expect((await state.latestVersion('sim-network', 'halt'))!.deploymentId).toBe(net.runId);
  });

  it('with onFailure rollback, returns the stacks it changed to their previous version', async () => {
    // The network as it was before the release: version 1.
    const before = await s.http.deploy('alice', {
      stack: 'sim-network',
      environment: 'undo',
      variables: { cidr: '10.1.0.0/16' },
    });
    await s.http.waitFor(before, ['succeeded']);
    const v1 = (await state.latestVersion('sim-network', 'undo'))!;

    const id = await rel().start('alice', {
      ...chain('undo', { fail_apply_on_resource: 1 }, { cidr: '10.2.0.0/16' }),
      onFailure: 'rollback',
    });
    const r = await rel().waitFor(id, ['rolled_back']);
    const net = r.stacks.find((x) => x.stack === 'sim-network')!;
    expect(net).toMatchObject({ status: 'succeeded', previousVersion: v1.version, stateVersion: v1.version + 1 });
    expect(net.rollback).toMatchObject({
      runId: `${id}.sim-network.rollback`,
      toVersion: v1.version,
      status: 'succeeded',
      stateVersion: v1.version + 2,
    });
    expect(r.stacks.find((x) => x.stack === 'sim-app')!.status).toBe('skipped');

    // Back at its previous version: the configuration of v1 re-applied as a new version.
    const now = (await state.latestVersion('sim-network', 'undo'))!;
    expect(now).toMatchObject({ version: v1.version + 2, kind: 'rollback', restoredFrom: v1.version });
    expect(now.config.variables.cidr).toBe('10.1.0.0/16');
    expect(now.config.digest).toBe(v1.config.digest);
    const rollback = await s.http.run(net.rollback!.runId!);
    expect(rollback).toMatchObject({ kind: 'rollback', status: 'succeeded', priority: 'high', releaseId: id });
  });

  it('cancelling a release cancels its running stack cleanly and starts nothing else', async () => {
    const id = await rel().start('alice', chain('stop', {}, { latency_ms_per_resource: 1500 }));
    const runId = `${id}.sim-network`;
    await eventually(async () => (await s.http.run(runId)).status === 'applying', 'the network run to apply');
    expect((await s.http.post('alice', `/api/v1/releases/${id}/cancel`)).status).toBe(202);
    const r = await rel().waitFor(id, ['cancelled']);
    expect(r.stacks.find((x) => x.stack === 'sim-network')!.status).toBe('cancelled');
    for (const n of ['sim-db', 'sim-app']) {
      const x = r.stacks.find((y) => y.stack === n)!;
      expect(x).toMatchObject({ status: 'skipped', reason: 'not started: the release was cancelled' });
      expect(x.runId).toBeUndefined();
    }
    const run = await s.http.run(runId);
    expect(run.status).toBe('cancelled');
    expect(run.applyCompletedAt).toBeUndefined();
    // The lock the run held is free again.
    await eventually(async () => {
      const lock = await s.env.client.workflow
        .getHandle(stackLockWorkflowId('sim-network', 'stop'))
        .query(lockStateQuery)
        .catch(() => undefined);
      return !lock?.holder;
    }, 'the network lock to be released');
  });
});
