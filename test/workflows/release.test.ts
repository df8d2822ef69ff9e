/**
 * ReleaseWorkflow on the simulated executor and a real Temporal dev server: waves of child deployment runs in
 * dependency order with outputs wired into dependents, a diamond's middle in parallel, one approval for a gated
 * release passed on to every run, and a cycle refused before anything starts.
 */
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { createStores } from '../../src/store';
import { recordHistory } from '../helpers/histories';
import { releaseConfig } from '../helpers/release-fixture';
import { releases } from '../helpers/release-client';
import { eventually, useStrata } from '../helpers/temporal';

describe('release workflow', () => {
  const config = releaseConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: true },
      qa: { approvals: { required: 0 } },
      prod: { approvals: { required: 2, fourEyes: true, timeout: '1h' } },
      gated: { approvals: { required: 1, timeout: '1h' } },
      recheck: { approvals: { required: 1, timeout: '1h' } },
    },
  });
  const s = useStrata(config);
  const { state } = createStores(config.stateStore, config.artifactsDir);
  const rel = () => releases(s.http);

  it('runs network → db → app in order and feeds each stack the outputs it takes', async () => {
    const id = await rel().start('alice', { name: 'platform', environment: 'dev' });
    const r = await rel().waitFor(id, ['succeeded']);
    expect(r.waves).toEqual([['sim-network'], ['sim-db'], ['sim-app']]);
    const [net, db, app] = ['sim-network', 'sim-db', 'sim-app'].map((n) => r.stacks.find((x) => x.stack === n)!);
    for (const x of [net, db, app]) expect(x).toMatchObject({ status: 'succeeded', runId: `${id}.${x.stack}` });
    // In order: each apply starts after everything it depends on finished.
    expect(Date.parse(db.applyStartedAt!)).toBeGreaterThanOrEqual(Date.parse(net.applyCompletedAt!));
    expect(Date.parse(app.applyStartedAt!)).toBeGreaterThanOrEqual(Date.parse(db.applyCompletedAt!));
    // The runs were configured with the outputs their upstreams produced.
    const dbVersion = await state.latestVersion('sim-db', 'dev');
    const appVersion = await state.latestVersion('sim-app', 'dev');
    expect(net.outputs!.dns_name).toBe('net.dev.platform.sim.strata.internal');
    expect(dbVersion!.config.variables.network_dns).toBe(net.outputs!.dns_name);
    expect(appVersion!.config.variables).toMatchObject({
      database_endpoint: db.outputs!.database_endpoint,
      network_dns: net.outputs!.dns_name,
    });
    expect(String(db.outputs!.database_endpoint)).toMatch(/\.db\.sim\.strata\.internal:5432$/);
    // Every stack run is an ordinary run: readable through /deployments, marked with its release.
    const run = await s.http.run(app.runId!);
    expect(run).toMatchObject({ stack: 'sim-app', status: 'succeeded', releaseId: id });
  });

  it('runs the middle of a diamond in parallel', async () => {
    const slow = { latency_ms_per_resource: 1500 };
    const id = await rel().start('alice', {
      environment: 'qa',
      stacks: [
        { stack: 'sim-network' },
        { stack: 'sim-db', variables: slow, inputs: { network_dns: 'sim-network.dns_name' } },
        { stack: 'sim-cache', variables: slow, inputs: { network_dns: 'sim-network.dns_name' } },
        {
          stack: 'sim-app',
          inputs: { database_endpoint: 'sim-db.database_endpoint', network_dns: 'sim-network.dns_name' },
          variables: { instance_count: 1 },
        },
      ],
      dependencies: [{ from: 'sim-cache', to: 'sim-app' }],
    });
    const r = await rel().waitFor(id, ['succeeded']);
    expect(r.waves).toEqual([['sim-network'], ['sim-db', 'sim-cache'], ['sim-app']]);
    const [db, cache, app] = ['sim-db', 'sim-cache', 'sim-app'].map((n) => r.stacks.find((x) => x.stack === n)!);
    const span = (x: typeof db) => [Date.parse(x.applyStartedAt!), Date.parse(x.applyCompletedAt!)];
    const [dbStart, dbEnd] = span(db);
    const [cacheStart, cacheEnd] = span(cache);
    // Overlapping applies: each started before the other finished.
    expect(dbStart).toBeLessThan(cacheEnd);
    expect(cacheStart).toBeLessThan(dbEnd);
    expect(Date.parse(app.applyStartedAt!)).toBeGreaterThanOrEqual(Math.max(dbEnd, cacheEnd));
  });

  it('refuses a cycle before any run starts, naming it in order', async () => {
    const before = (await s.http.get('alice', '/api/v1/releases?limit=100')).body.items.length;
    const res = await s.http.post('alice', '/api/v1/releases', {
      environment: 'dev',
      stacks: [
        { stack: 'sim-network', inputs: { cidr: 'sim-app.dns_name' } },
        { stack: 'sim-db', inputs: { network_dns: 'sim-network.dns_name' } },
        { stack: 'sim-app', inputs: { database_endpoint: 'sim-db.database_endpoint' } },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toContain('dependency cycle: sim-network → sim-db → sim-app → sim-network');
    expect((await s.http.get('alice', '/api/v1/releases?limit=100')).body.items.length).toBe(before);
    const runs = await s.env.client.workflow.count(
      `WorkflowType = 'deploymentWorkflow' AND ExecutionStatus = 'Running'`,
    );
    expect(runs.count).toBe(0);
  });

  it('asks once for a gated release, with every stack planned, and passes the approval on to each run', async () => {
    const id = await rel().start('alice', { name: 'platform', environment: 'prod' });
    const waiting = await rel().waitFor(id, ['awaiting_approval']);
    expect(waiting.approvalsRequired).toBe(2);
    expect(waiting.planHash).toMatch(/^release-/);
    for (const x of waiting.stacks) {
      expect(x.status).toBe('planned');
      expect(x.plan!.add).toBeGreaterThan(0);
      expect(x.previewRunId).toBe(`${id}.${x.stack}.plan`);
    }
    // The db's input is not known until the network is applied: the approval covers whatever it then is.
    expect(waiting.stacks.find((x) => x.stack === 'sim-db')!.knownAfterApply).toEqual(['network_dns']);
    expect(waiting.risk).toBeDefined();
    // Four-eyes: the requester cannot approve; two approvers can.
    expect((await s.http.post('alice', `/api/v1/releases/${id}/approve`, {})).status).toBe(403);
    expect((await s.http.post('bob', `/api/v1/releases/${id}/approve`, { planHash: waiting.planHash })).status).toBe(
      200,
    );
    expect((await s.http.post('bob', `/api/v1/releases/${id}/approve`, {})).status).toBe(409);
    expect((await s.http.post('dave', `/api/v1/releases/${id}/approve`, { comment: 'ship it' })).status).toBe(200);
    const done = await rel().waitFor(id, ['succeeded']);
    for (const x of done.stacks) {
      const run = await s.http.run(x.runId!);
      expect(run.status).toBe('succeeded');
      expect(run.approvals).toEqual([
        expect.objectContaining({ by: `release:${id}`, comment: expect.stringContaining('bob, dave') }),
      ]);
    }
    // Each run was a child of the release: it ran under its own id, and closed.
    const child = await s.env.client.workflow.getHandle(deploymentWorkflowId(done.stacks[0].runId!)).describe();
    expect(child.status.name).toBe('COMPLETED');
    expect(child.parentExecution?.workflowId).toBe(`strata-release/${id}`);
    await recordHistory(s.env.address, `strata-release/${id}`, 'release-prod-approved-succeeded');
    await recordHistory(
      s.env.address,
      deploymentWorkflowId(done.stacks[1].runId!),
      'deployment-release-delegated-succeeded',
    );
  });

  it('rates a release by its riskiest stack and lists the downstream stacks an output change reaches', async () => {
    const first = await rel().start('alice', { name: 'platform', environment: 'gated' });
    await rel().waitFor(first, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/releases/${first}/approve`, {})).status).toBe(200);
    await rel().waitFor(first, ['succeeded']);

    // A new zone name replaces the zone record, so the network's dns_name changes for both its consumers.
    const id = await rel().start('alice', { name: 'platform', environment: 'gated', dryRun: true, stacks: undefined });
    const unchanged = await rel().waitFor(id, ['planned']);
    expect(unchanged.impact).toEqual([]);
    expect(unchanged.stacks.every((x) => x.status === 'no_changes')).toBe(true);

    const moved = await rel().start('alice', {
      environment: 'gated',
      dryRun: true,
      stacks: [
        { stack: 'sim-network', variables: { zone: 'platform-2' } },
        { stack: 'sim-db', inputs: { network_dns: 'sim-network.dns_name' } },
        {
          stack: 'sim-app',
          inputs: { database_endpoint: 'sim-db.database_endpoint', network_dns: 'sim-network.dns_name' },
        },
      ],
    });
    const r = await rel().waitFor(moved, ['planned']);
    const net = r.stacks.find((x) => x.stack === 'sim-network')!;
    expect(net.plan).toMatchObject({ risk: 'high', outputChanges: ['dns_name'] });
    expect(r.risk).toBe('high');
    expect(r.impact).toEqual([
      {
        stack: 'sim-network',
        output: 'dns_name',
        known: true,
        consumers: [
          { stack: 'sim-db', variable: 'network_dns' },
          { stack: 'sim-app', variable: 'network_dns' },
        ],
      },
    ]);
    // The db and app are planned with the dns_name they have now; the release says it is known only after apply.
    expect(r.stacks.find((x) => x.stack === 'sim-db')!.knownAfterApply).toEqual(['network_dns']);
    expect(r.stacks.find((x) => x.stack === 'sim-app')!.knownAfterApply).toEqual(['network_dns']);
    // Nothing was applied by a dry run.
    expect((await state.latestVersion('sim-network', 'gated'))!.config.variables.zone).toBe('platform');
    // The stacks fed the changing output are planned with it "known after apply", so they show what it changes.
    expect(r.stacks.find((x) => x.stack === 'sim-db')!.plan).toMatchObject({ change: 1 });

    // Applied for real, one approval covers it: each run's plan is the one previewed, whatever dns_name became.
    const real = await rel().start('alice', {
      environment: 'gated',
      stacks: [
        { stack: 'sim-network', variables: { zone: 'platform-2' } },
        { stack: 'sim-db', inputs: { network_dns: 'sim-network.dns_name' } },
        {
          stack: 'sim-app',
          inputs: { database_endpoint: 'sim-db.database_endpoint', network_dns: 'sim-network.dns_name' },
        },
      ],
    });
    await rel().waitFor(real, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/releases/${real}/approve`, {})).status).toBe(200);
    const done = await rel().waitFor(real, ['succeeded']);
    expect(done.events.some((e) => /waiting for the release's approvers again/.test(e.message))).toBe(false);
    expect((await state.latestVersion('sim-db', 'gated'))!.config.variables.network_dns).toBe(
      'net.gated.platform-2.sim.strata.internal',
    );
  });

  it('asks the release approvers again when a run’s plan is not the one they approved', async () => {
    const id = await rel().start('alice', { environment: 'recheck', stacks: [{ stack: 'sim-network' }] });
    const planned = await rel().waitFor(id, ['awaiting_approval']);
    expect(planned.stacks[0].plan).toMatchObject({ add: 2 });
    // Someone changes the network behind the release's back before it is approved.
    const other = await s.http.deploy('alice', {
      stack: 'sim-network',
      environment: 'recheck',
      variables: { cidr: '10.9.0.0/16' },
    });
    await s.http.waitFor(other, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/deployments/${other}/approve`, {})).status).toBe(200);
    await s.http.waitFor(other, ['succeeded']);

    expect((await s.http.post('bob', `/api/v1/releases/${id}/approve`, {})).status).toBe(200);
    // The run now plans an update, not the two creates the approval was given on: the approvers are asked again.
    const again = await eventually(async () => {
      const r = await rel().get(id);
      return r.reapproval ? r : undefined;
    }, 'the release to ask again');
    expect(again.status).toBe('awaiting_approval');
    expect(again.reapproval).toEqual({
      stack: 'sim-network',
      reason: expect.stringContaining(
        'the plan changed since the release was approved (now update aws_dns_record.zone',
      ),
    });
    expect((await s.http.run(`${id}.sim-network`)).status).toBe('awaiting_approval');
    expect(
      (await s.http.post('bob', `/api/v1/releases/${id}/approve`, { comment: 'cidr back to the default' })).status,
    ).toBe(200);
    const done = await rel().waitFor(id, ['succeeded']);
    expect(done.stacks[0].plan).toMatchObject({ add: 0, change: 1 });
    expect((await state.latestVersion('sim-network', 'recheck'))!.config.variables.cidr).toBe('10.0.0.0/16');
  });
});
