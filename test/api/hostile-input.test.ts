/**
 * Hostile input never reaches Temporal: every filter, body field and variable is checked (pattern, length,
 * control characters, the stack's declared variables) before a visibility query runs or a workflow starts.
 */
import { randomUUID } from 'node:crypto';
import { testConfig, useStrata, eventually } from '../helpers/temporal';

const config = testConfig({
  failoverGroups: {
    web: { provider: 'simulated', primary: { region: 'us-east-1', capacity: 3 }, secondary: { region: 'us-west-2' } },
  },
});
const s = useStrata(config);

const RUN_TYPES =
  "('deploymentWorkflow', 'rollbackWorkflow', 'destroyWorkflow', 'failoverWorkflow', 'driftScanWorkflow')";

/** Runs the API can start on this test's task queue, per visibility. */
async function started(): Promise<number> {
  const q = `TaskQueue = '${config.temporal.taskQueue}' AND WorkflowType IN ${RUN_TYPES}`;
  return (await s.env.client.workflow.count(q)).count;
}

/**
 * Visibility lags a start a little: a marker run started after the refused requests shows up only once the
 * index has caught up, so "count before + 1" then proves the refused requests started nothing.
 */
async function expectNothingStartedSince(before: number): Promise<void> {
  await s.http.deploy('alice', {
    stack: 'sim-multicloud',
    environment: 'dev',
    dryRun: true,
    idempotencyKey: `marker-${randomUUID()}`,
  });
  await eventually(async () => (await started()) >= before + 1, 'the marker run in visibility', 20_000);
  expect(await started()).toBe(before + 1);
}

describe('hostile query filters', () => {
  it('a NUL byte in the failover list group filter is a 400 naming the field, at once', async () => {
    const t0 = Date.now();
    const res = await s.http.get('alice', '/api/v1/failovers?group=web%00x');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toContain('query.group');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it.each([
    ['/api/v1/deployments?stack=hello%00local', 'query.stack'],
    ['/api/v1/deployments?environment=dev%27%20OR%20%271%27%3D%271', 'query.environment'],
    ['/api/v1/deployments?status=nope', 'query.status'],
    ['/api/v1/deployments?kind=%0Adeploy', 'query.kind'],
    [`/api/v1/deployments?stack=${'a'.repeat(64)}`, 'query.stack'],
    ['/api/v1/deployments?limit=100000', 'query.limit'],
    ['/api/v1/failovers?group=web%27%20OR%20%271', 'query.group'],
    [`/api/v1/failovers?group=${'g'.repeat(101)}`, 'query.group'],
    ['/api/v1/failovers?status=%00', 'query.status'],
  ])('GET %s → 400 naming %s', async (url, field) => {
    const res = await s.http.get('alice', url);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(field);
  });
});

describe('variables are checked against what the stack declares, before anything starts', () => {
  it('an unknown variable, a wrong type, or an oversized map is a 400 that names it; no run starts', async () => {
    const before = await started();
    const unknown = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_cout: 3 },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(
      /body\.variables: unknown variable "instance_cout": stack sim-multicloud declares instance_count/,
    );

    const wrongType = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 'many' },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toContain('body.variables.instance_count: must be a number, got "many"');
    expect(wrongType.body.error.details.issues[0].path).toBe('body.variables.instance_count');

    // OpenTofu stack: names and types come from the variable blocks of stacks/hello-local/*.tf.
    const tofuUnknown = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'hello-local',
      environment: 'dev',
      variables: { mesage: 'typo' },
    });
    expect(tofuUnknown.status).toBe(400);
    expect(tofuUnknown.body.error.message).toMatch(/unknown variable "mesage": stack hello-local declares .*message/);
    const tofuWrong = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'hello-local',
      environment: 'dev',
      variables: { file_count: { n: 2 } },
    });
    expect(tofuWrong.status).toBe(400);
    expect(tofuWrong.body.error.message).toContain('body.variables.file_count: must be a number, got an object');

    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`v${i}`, i]));
    const many = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: tooMany,
    });
    expect(many.status).toBe(400);
    expect(many.body.error.message).toMatch(/body\.variables.*at most 100 variables/);

    const deep = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { providers: [[[[[['aws']]]]]] },
    });
    expect(deep.status).toBe(400);
    expect(deep.body.error.message).toContain('body.variables.providers');

    const wrongEnv = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: {},
    });
    expect(wrongEnv.status).toBe(400);
    expect(wrongEnv.body.error.message).toMatch(/body\.environment: stack sim-multicloud has no environment "qa"/);

    await expectNothingStartedSince(before);
  });

  it('numbers as numeric strings and lists as comma-separated strings still pass, as the executors take them', async () => {
    const res = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'sim-multicloud',
      environment: 'dev',
      dryRun: true,
      variables: { instance_count: '2', providers: 'aws,gcp', drift_after_apply: 'false' },
    });
    expect(res.status).toBe(202);
    const done = await s.http.waitFor(res.body.id, ['planned']);
    expect(done.plan?.add).toBeGreaterThan(0);
  });
});

describe('bounded, control-free text in every body', () => {
  it.each([
    ['/api/v1/deployments', { stack: 'sim-multicloud', environment: 'dev', reason: 'r'.repeat(2001) }, 'body.reason'],
    ['/api/v1/deployments', { stack: 'sim-multicloud', environment: 'dev', reason: 'nul\u0000byte' }, 'body.reason'],
    [
      '/api/v1/deployments',
      { stack: 'sim-multicloud', environment: 'dev', idempotencyKey: 'a\u0007b' },
      'body.idempotencyKey',
    ],
    ['/api/v1/deployments/d-x/approve', { comment: 'esc\u001b[2J' }, 'body.comment'],
    ['/api/v1/deployments/d-x/approve', { planHash: "x' OR 1" }, 'body.planHash'],
    ['/api/v1/deployments/d-x/reject', { reason: 'x'.repeat(2001) }, 'body.reason'],
    ['/api/v1/failovers', { group: 'web', mode: 'planned', reason: 'a\u0000' }, 'body.reason'],
    ['/api/v1/failovers', { group: 'web\u0000', mode: 'planned' }, 'body.group'],
    ['/api/v1/failovers', { group: 'nope', mode: 'planned' }, 'body.group'],
    ['/api/v1/stacks/sim-multicloud/environments/dev/rollback', { targetVersion: 1, reason: 'x\u0000' }, 'body.reason'],
    ['/api/v1/stacks/sim-multicloud/environments/dev/destroy', { reason: 'x'.repeat(5000) }, 'body.reason'],
  ])('POST %s → 400 naming the field (%#)', async (url, body, field) => {
    const before = await started();
    const res = await s.http.post('carol', url, body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(field);
    expect(await started()).toBe(before);
  });
});
