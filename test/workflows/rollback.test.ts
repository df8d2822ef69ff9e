/**
 * Going back: rollback to any retained version (a new run with its own plan and approval), rollback of a
 * rollback, destroy and redeploy, automatic rollback after a failed apply or verification — over HTTP with
 * a real Temporal server, real OpenTofu (hello-local) and the simulated cloud (sim-multicloud).
 */
import fs from 'node:fs';
import path from 'node:path';
import { deploymentWorkflowId, TERMINAL_STATUSES, type DeploymentStatus } from '../../src/contracts/runs';
import { SimulatedCloud } from '../../src/executors/simulated/persistence';
import { createStores } from '../../src/store';
import { recordHistory } from '../helpers/histories';
import { eventually, startWorker, testConfig, useStrata } from '../helpers/temporal';

describe('rollback, destroy and state history', () => {
  const config = testConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: true },
      stage: { approvals: { required: 0 }, autoRollback: false },
      prod: { approvals: { required: 2, fourEyes: true, timeout: '72h' }, autoRollback: true },
      scratch: { approvals: { required: 0 }, autoRollback: true },
      fresh: { approvals: { required: 0 }, autoRollback: true },
    },
  });
  const outDir = path.join(config.stacks['hello-local'].variables.strata_data_dir as string, 'out');
  const contents = (envName: string) => {
    const dir = path.join(outDir, envName);
    return fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .sort()
          .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
      : [];
  };

  const deployAndWait = async (
    stack: string,
    environment: string,
    variables: Record<string, unknown>,
    ...status: DeploymentStatus[]
  ) => {
    const id = await s.http.deploy('alice', { stack, environment, variables });
    return s.http.waitFor(id, status.length ? status : ['succeeded']);
  };
  const instances = async (stack: string, environment: string) => {
    const res = await s.http.get('alice', `/api/v1/stacks/${stack}/environments/${environment}/state`);
    expect(res.status).toBe(200);
    return (res.body.resources as { address: string; type: string }[])
      .filter((r) => /_instance\.web\[/.test(r.address))
      .map((r) => r.address)
      .sort();
  };
  const history = async (stack: string, environment: string) =>
    (await s.http.get('alice', `/api/v1/stacks/${stack}/environments/${environment}/state/history`)).body.items as {
      version: number;
      kind: string;
      restoredFrom?: number;
    }[];

  const s = useStrata(config);
  /** What the simulated cloud really holds, whatever the state versions say. */
  const reality = async (environment: string) =>
    Object.keys(
      (
        await new SimulatedCloud(createStores(config.stateStore, config.artifactsDir).artifacts).read(
          'sim-multicloud',
          environment,
        )
      ).resources,
    ).sort();
  /** Waits for any end of the run (recording its history before the test's assertions look at it). */
  const ended = async (id: string, historyName?: string) => {
    const d = await eventually(
      async () => {
        const r = await s.http.run(id);
        return TERMINAL_STATUSES.includes(r.status) && r;
      },
      `run ${id} to end`,
      90_000,
    );
    if (historyName) await recordHistory(s.env.address, deploymentWorkflowId(id), historyName);
    return d;
  };

  it('hello-local: v1 "one", v2 "two", rollback to v1, then rollback of the rollback to v2', async () => {
    expect((await s.http.get('alice', '/api/v1/stacks/hello-local/environments/dev/state')).status).toBe(404);
    await deployAndWait('hello-local', 'dev', { message: 'one', file_count: 2 });
    await deployAndWait('hello-local', 'dev', { message: 'two', file_count: 2 });
    expect(contents('dev')).toEqual(['two', 'two']);

    const rb = await s.http.post('alice', '/api/v1/stacks/hello-local/environments/dev/rollback', {
      targetVersion: 1,
      reason: 'two is broken',
    });
    expect(rb.status).toBe(202);
    const done = await s.http.waitFor(rb.body.id, ['succeeded']);
    expect(done).toMatchObject({ kind: 'rollback', targetVersion: 1, stateVersion: 3 });
    expect(contents('dev')).toEqual(['one', 'one']);
    const h = await history('hello-local', 'dev');
    expect(h.map((v) => [v.version, v.kind])).toEqual([
      [3, 'rollback'],
      [2, 'deploy'],
      [1, 'deploy'],
    ]);
    expect(h[0].restoredFrom).toBe(1);

    const back = await s.http.post('alice', '/api/v1/stacks/hello-local/environments/dev/rollback', {
      targetVersion: 2,
    });
    await s.http.waitFor(back.body.id, ['succeeded']);
    expect(contents('dev')).toEqual(['two', 'two']);
    expect((await history('hello-local', 'dev'))[0]).toMatchObject({ version: 4, kind: 'rollback', restoredFrom: 2 });
  });

  it('refuses a rollback to the current version (409) and to a version that is not retained (404)', async () => {
    const current = (await history('hello-local', 'dev'))[0].version;
    const same = await s.http.post('alice', '/api/v1/stacks/hello-local/environments/dev/rollback', {
      targetVersion: current,
    });
    expect(same.status).toBe(409);
    expect(same.body.error.message).toMatch(/already the current version/);
    const missing = await s.http.post('alice', '/api/v1/stacks/hello-local/environments/dev/rollback', {
      targetVersion: 99,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/versions that exist: 4, 3, 2, 1/);
  });

  it('sim-multicloud: scale 2 → 5 → rollback → 2 instances', async () => {
    await deployAndWait('sim-multicloud', 'dev', { instance_count: 2 });
    expect(await instances('sim-multicloud', 'dev')).toHaveLength(2);
    const scaled = await deployAndWait('sim-multicloud', 'dev', { instance_count: 5 });
    expect(scaled.plan).toMatchObject({ add: 3 });
    expect(await instances('sim-multicloud', 'dev')).toHaveLength(5);
    const rb = await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/dev/rollback', {
      targetVersion: 1,
    });
    const d = await s.http.waitFor(rb.body.id, ['succeeded']);
    expect(d.plan).toMatchObject({ destroy: 3 });
    expect(await instances('sim-multicloud', 'dev')).toHaveLength(2);
  });

  it('destroy leaves nothing, is recorded, and a later deploy recreates from scratch', async () => {
    const res = await s.http.post('alice', '/api/v1/stacks/hello-local/environments/dev/destroy', {
      reason: 'teardown',
    });
    expect(res.status).toBe(202);
    const d = await s.http.waitFor(res.body.id, ['succeeded']);
    expect(d.kind).toBe('destroy');
    expect(d.plan!.risk).toBe('high');
    expect(contents('dev')).toEqual([]);
    expect((await history('hello-local', 'dev'))[0].kind).toBe('destroy');
    const again = await deployAndWait('hello-local', 'dev', { message: 'fresh', file_count: 1 });
    expect(again.plan!.add).toBeGreaterThanOrEqual(2);
    expect(contents('dev')).toEqual(['fresh']);
  });

  it('in prod a rollback waits for approvals like any other change, and says it is a rollback', async () => {
    const v1 = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(v1, ['awaiting_approval']);
    await s.http.post('bob', `/api/v1/deployments/${v1}/approve`);
    await s.http.post('carol', `/api/v1/deployments/${v1}/approve`);
    await s.http.waitFor(v1, ['succeeded']);
    const v2 = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 3 },
    });
    await s.http.waitFor(v2, ['awaiting_approval']);
    await s.http.post('bob', `/api/v1/deployments/${v2}/approve`);
    await s.http.post('carol', `/api/v1/deployments/${v2}/approve`);
    await s.http.waitFor(v2, ['succeeded']);

    const rb = await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/prod/rollback', {
      targetVersion: 1,
    });
    const waiting = await s.http.waitFor(rb.body.id, ['awaiting_approval']);
    expect(waiting).toMatchObject({ kind: 'rollback', targetVersion: 1, approvalsRequired: 2 });
    expect(waiting.plan!.risk).toBe('high'); // instances are deleted in a gated environment
    expect(await instances('sim-multicloud', 'prod')).toHaveLength(3);
    await s.http.post('bob', `/api/v1/deployments/${rb.body.id}/approve`);
    await s.http.post('carol', `/api/v1/deployments/${rb.body.id}/approve`);
    await s.http.waitFor(rb.body.id, ['succeeded']);
    expect(await instances('sim-multicloud', 'prod')).toHaveLength(1);
  });

  it('an injected apply failure under autoRollback ends rolled_back with the previous version in place', async () => {
    await deployAndWait('sim-multicloud', 'dev', { instance_count: 2 }, 'succeeded', 'no_changes');
    const before = await instances('sim-multicloud', 'dev');
    const failed = await deployAndWait(
      'sim-multicloud',
      'dev',
      { instance_count: 6, fail_apply_on_resource: 3 },
      'rolled_back',
    );
    expect(failed.error).toMatchObject({ code: 'APPLY_FAILED' });
    expect(failed.rollback).toMatchObject({ status: 'succeeded' });
    expect(await instances('sim-multicloud', 'dev')).toEqual(before);
    expect((await history('sim-multicloud', 'dev'))[0]).toMatchObject({
      kind: 'rollback',
      restoredFrom: failed.rollback!.toVersion,
    });
    await recordHistory(s.env.address, deploymentWorkflowId(failed.id), 'deployment-apply-failed-rolled-back');
  });

  it('a failed verification rolls back too; without autoRollback the run ends failed', async () => {
    const v = await deployAndWait('sim-multicloud', 'dev', { instance_count: 2, fail_verify: true }, 'rolled_back');
    expect(v.error).toMatchObject({ code: 'VERIFY_FAILED' });
    expect(v.events.some((e) => e.message.includes('verifying'))).toBe(true);

    await deployAndWait('sim-multicloud', 'stage', { instance_count: 1 });
    const f = await deployAndWait(
      'sim-multicloud',
      'stage',
      { instance_count: 3, fail_apply_on_resource: 2 },
      'failed',
    );
    expect(f.error).toMatchObject({ code: 'APPLY_FAILED' });
    expect(f.rollback).toBeUndefined();
  });

  it('an apply interrupted by a worker shutting down is never rolled back automatically', async () => {
    await deployAndWait('sim-multicloud', 'dev', { instance_count: 2 }, 'succeeded', 'no_changes');
    const before = (await history('sim-multicloud', 'dev'))[0].version;
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 8, latency_ms_per_resource: 2000 },
    });
    await s.http.waitFor(id, ['applying']);
    await eventually(async () => {
      const { body } = await s.http.get('alice', `/api/v1/deployments/${id}/logs`);
      return body.items.some((l: { resource?: string }) => l.resource?.includes('instance.web'));
    }, 'the apply to have started on a resource');
    // The worker restarts: its shutdown grace (5 s) runs out mid-apply and it interrupts the apply it was
    // running; the new worker takes the run over. Nobody cancelled the run and nothing about the change failed.
    await s.worker.stop();
    s.worker = await startWorker(s.env, config);
    const d = await eventually(
      async () => {
        const r = await s.http.run(id);
        return TERMINAL_STATUSES.includes(r.status) && r;
      },
      'the interrupted run to end',
      90_000,
    );
    await recordHistory(s.env.address, deploymentWorkflowId(id), 'deployment-apply-interrupted-no-rollback');
    expect(d.status).not.toBe('rolled_back');
    expect(d.rollback?.status).not.toBe('succeeded');
    if (d.status === 'failed') {
      expect(d.error).toMatchObject({ code: 'APPLY_INTERRUPTED' });
      expect(d.events.some((e) => /no automatic rollback/.test(e.message))).toBe(true);
    } else {
      expect(d.status).toBe('succeeded'); // a worker that lets the apply finish before it stops
    }
    // No rollback version was recorded: nothing was applied that nobody approved.
    expect((await history('sim-multicloud', 'dev')).filter((v) => v.version > before && v.kind === 'rollback')).toEqual(
      [],
    );
  });

  it('a failed deploy after a destroy removes what it created instead of re-creating the destroyed stack', async () => {
    await deployAndWait('sim-multicloud', 'scratch', { instance_count: 2 });
    // The shipped policy refuses deleting a database unless the request says it means it.
    const del = await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/scratch/destroy', {
      reason: 'teardown',
      policyFlags: { allow_database_deletion: true },
    });
    await s.http.waitFor(del.body.id, ['succeeded']);
    expect(await reality('scratch')).toEqual([]);

    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'scratch',
      variables: { instance_count: 4, fail_apply_on_resource: 3 },
    });
    const d = await ended(id, 'deployment-after-destroy-failed-removes-leftovers');
    expect(d.error).toMatchObject({ code: 'APPLY_FAILED' });
    // The last good state is the empty one: whatever the failed apply created is gone, nothing destroyed came back.
    expect(await reality('scratch')).toEqual([]);
    expect(d).toMatchObject({ status: 'rolled_back', rollback: { status: 'succeeded' } });
    const h = await history('sim-multicloud', 'scratch');
    expect(h[0].kind).toBe('destroy');
    expect(h.filter((v) => v.kind === 'rollback')).toEqual([]);
    expect(await instances('sim-multicloud', 'scratch')).toEqual([]);
  });

  it('a failed first deploy removes what it created', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'fresh',
      variables: { instance_count: 3, fail_apply_on_resource: 3 },
    });
    const d = await ended(id);
    expect(d.error).toMatchObject({ code: 'APPLY_FAILED' });
    expect(await reality('fresh')).toEqual([]);
    expect(d).toMatchObject({ status: 'rolled_back', rollback: { status: 'succeeded' } });
    expect(d.events.some((e) => /removed \d+ leftover resource/.test(e.message))).toBe(true);
  });

  it('plans on the next provider when the preferred one is unavailable, and records the decision', async () => {
    const d = await deployAndWait('sim-multicloud', 'stage', { instance_count: 1, unavailable_providers: ['aws'] });
    expect(d.plan!.notes?.join('\n')).toMatch(/provider failover: planning on gcp/);
    expect(d.resources.some((r) => r.address.startsWith('gcp_instance.web'))).toBe(true);
  });
});
