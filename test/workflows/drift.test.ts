/** Drift: on-demand scans over HTTP, scheduled scans from a Temporal Schedule, and remediation through the saga. */
import fs from 'node:fs';
import path from 'node:path';
import { createGateway } from '../../src/client';
import { reconcileDriftSchedules } from '../../src/worker/schedules';
import { driftScheduleId } from '../../src/contracts/drift';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

describe('drift scans', () => {
  const config = testConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: true, drift: { every: '2s', remediate: false } },
      qa: { approvals: { required: 0 } },
      stage: { approvals: { required: 0 }, autoRollback: false },
    },
  });

  const s = useStrata(config);

  it('finds a file deleted behind OpenTofu’s back and reports it as deleted', async () => {
    expect((await s.http.get('alice', '/api/v1/stacks/hello-local/environments/qa/drift')).status).toBe(404);
    const id = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'x', file_count: 2 },
    });
    const d = await s.http.waitFor(id, ['succeeded']);
    const files = d.outputs.files as string[];
    fs.rmSync(files[0]);
    const res = await s.http.post('alice', '/api/v1/stacks/hello-local/environments/qa/drift-scan');
    expect(res.status).toBe(202);
    const report = await eventually(async () => {
      const r = await s.http.get('alice', '/api/v1/stacks/hello-local/environments/qa/drift');
      return r.status === 200 && r.body;
    }, 'a drift report');
    expect(report).toMatchObject({ drifted: true, version: 1 });
    expect(report.resources).toEqual([
      expect.objectContaining({ address: 'local_file.message[0]', change: 'deleted' }),
    ]);
    expect(path.basename(files[1])).toMatch(/^hello-1/);
  });

  it('remediates drift through a rollback run to the current version when asked', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 2, drift_after_apply: true },
    });
    await s.http.waitFor(id, ['succeeded']);
    await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/qa/drift-scan', { remediate: true });
    const report = await eventually(async () => {
      const r = await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/qa/drift');
      return r.status === 200 && r.body.remediationId && r.body;
    }, 'a drift report with remediation');
    expect(report.drifted).toBe(true);
    const fix = await s.http.waitFor(report.remediationId, ['succeeded']);
    expect(fix).toMatchObject({ kind: 'rollback', targetVersion: 1 });
  });

  it('a remediation planned while a newer version applied never reverts that version', async () => {
    const instances = async () =>
      (
        (await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/stage/state')).body.resources as {
          address: string;
        }[]
      ).filter((r) => /_instance\.web\[/.test(r.address)).length;
    const v1 = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'stage',
      variables: { instance_count: 2, drift_after_apply: true },
    });
    await s.http.waitFor(v1, ['succeeded']);
    // Version 2 is applying (slowly) when the scan runs: the scan compares reality with version 1.
    const v2 = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'stage',
      variables: { instance_count: 5, latency_ms_per_resource: 1500 },
    });
    await s.http.waitFor(v2, ['applying']);
    await s.http.post('alice', '/api/v1/stacks/sim-multicloud/environments/stage/drift-scan', { remediate: true });
    const report = await eventually(async () => {
      const r = await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/stage/drift');
      return r.status === 200 && r.body.remediationId && r.body;
    }, 'a drift report with remediation');
    expect(report).toMatchObject({ drifted: true, version: 1 });
    expect((await s.http.waitFor(v2, ['succeeded'])).stateVersion).toBe(2);

    // The remediation waited for the lock behind version 2; once it has it, version 1 is no longer current.
    const fix = await s.http.waitFor(report.remediationId, ['no_changes']);
    expect(fix.applyStartedAt).toBeUndefined();
    expect(fix.events.some((e) => /version 2 is current/.test(e.message))).toBe(true);
    expect(await instances()).toBe(5);
    const history = (await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/stage/state/history')).body
      .items;
    expect(history.map((v: { version: number; kind: string }) => [v.version, v.kind])).toEqual([
      [2, 'deploy'],
      [1, 'deploy'],
    ]);
  });

  it('reconciles a Temporal Schedule per stack/environment with drift.every and the schedule runs scans', async () => {
    const ids = await reconcileDriftSchedules(createGateway(s.env.client, config.temporal), config);
    expect(ids).toEqual(
      expect.arrayContaining([driftScheduleId('hello-local', 'dev'), driftScheduleId('sim-multicloud', 'dev')]),
    );
    expect(ids.some((i) => i.endsWith('/qa'))).toBe(false);
    // Idempotent: a second reconcile updates in place.
    expect(await reconcileDriftSchedules(createGateway(s.env.client, config.temporal), config)).toEqual(ids);
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(id, ['succeeded']);
    const report = await eventually(
      async () => {
        const r = await s.http.get('alice', '/api/v1/stacks/sim-multicloud/environments/dev/drift');
        return r.status === 200 && r.body.version === 1 && r.body;
      },
      'a scheduled drift report',
      30_000,
    );
    expect(report.drifted).toBe(false);
    const desc = await s.env.client.schedule.getHandle(driftScheduleId('sim-multicloud', 'dev')).describe();
    expect(desc.info.recentActions.length).toBeGreaterThan(0);
  });
});
