/**
 * /openapi.json documents every status each operation answers, with a schema for every response and one shared
 * error envelope. The app is driven through each route's outcomes (success, 400, 401, 403, 404, 409, 413) on a
 * real dev server and worker; its request counter then says what it answered, and the document must list it all.
 */
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { api } from '../helpers/api-client';
import { eventually, startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { observedStatuses, undocumentedStatuses } from './documented-statuses';

const config = testConfig({
  failoverGroups: {
    web: { provider: 'simulated', primary: { region: 'us-east-1', capacity: 3 }, secondary: { region: 'us-west-2' } },
  },
});

describe('/openapi.json', () => {
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker;
  let app: ReturnType<typeof createApp>;
  let http: ReturnType<typeof api>;
  beforeAll(async () => {
    env = await startTemporal();
    worker = await startWorker(env, config);
    app = createApp({ temporal: { client: env.client }, config });
    http = api(app);
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  it('gives every response of every operation a schema; errors use the one envelope', async () => {
    const doc = (await request(app).get('/openapi.json')).body;
    expect(doc.components.schemas.Error).toMatchObject({
      required: ['error'],
      properties: { error: { required: ['code', 'message'] } },
    });
    const missing: string[] = [];
    let operations = 0;
    for (const [p, ops] of Object.entries<
      Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
    >(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        operations++;
        for (const [status, r] of Object.entries(op.responses)) {
          const schema = Object.values(r.content ?? {})[0]?.schema;
          if (!schema) missing.push(`${method} ${p} ${status}`);
          if (Number(status) >= 400 && p.startsWith('/api/'))
            expect(schema).toEqual({ $ref: '#/components/schemas/Error' });
        }
        if (p.startsWith('/api/')) expect(Object.keys(op.responses)).toContain('401');
      }
    }
    expect(missing).toEqual([]);
    expect(operations).toBeGreaterThanOrEqual(26);
    // Implied by the declarations: roles → 403, body → 400/413, a path parameter → 404, a change → 429.
    expect(Object.keys(doc.paths['/api/v1/deployments'].post.responses).sort()).toEqual([
      '202',
      '400',
      '401',
      '403',
      '413',
      '429',
      '503',
    ]);
    expect(Object.keys(doc.paths['/api/v1/deployments/{id}'].get.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '503',
    ]);
    // The deployment body lists each configured stack with its environments and declared variables.
    const body = doc.paths['/api/v1/deployments'].post.requestBody.content['application/json'].schema;
    const sim = body.anyOf.find(
      (b: { properties: { stack: { enum: string[] } } }) => b.properties.stack.enum[0] === 'sim-multicloud',
    );
    expect(sim.properties.variables.additionalProperties).toBe(false);
    expect(Object.keys(sim.properties.variables.properties)).toContain('instance_count');
  });

  it('documents every status each route answers (success, 400, 401, 403, 404, 409, 413, 405 on a wrong method)', async () => {
    const post = (user: Parameters<typeof http.post>[0], url: string, body: object = {}) => http.post(user, url, body);
    expect((await request(app).get('/health')).status).toBe(200);
    await eventually(async () => (await request(app).get('/ready')).status === 200, '/ready 200');

    // Deployments: start, read, list, plan, logs; refusals of each kind.
    expect((await request(app).get('/api/v1/stacks')).status).toBe(401);
    expect((await http.get('alice', '/api/v1/stacks')).status).toBe(200);
    expect((await post('bob', '/api/v1/deployments', { stack: 'sim-multicloud', environment: 'dev' })).status).toBe(
      403,
    );
    expect((await post('alice', '/api/v1/deployments', { stack: 'sim-multicloud', environment: 42 })).status).toBe(400);
    expect(
      (await post('alice', '/api/v1/deployments', { stack: 'x'.repeat(300_000), environment: 'dev' })).status,
    ).toBe(413);
    const dev = await http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 1 },
    });
    await http.waitFor(dev, ['succeeded']);
    expect((await http.get('alice', `/api/v1/deployments/${dev}`)).status).toBe(200);
    expect((await http.get('alice', `/api/v1/deployments/${dev}/plan`)).status).toBe(200);
    expect((await http.get('alice', `/api/v1/deployments/${dev}/logs`)).status).toBe(200);
    expect((await http.get('alice', '/api/v1/deployments?stack=sim-multicloud&limit=5')).status).toBe(200);
    expect((await http.get('alice', '/api/v1/deployments?limit=0')).status).toBe(400);
    expect((await http.get('alice', '/api/v1/deployments/d-nope')).status).toBe(404);
    expect((await http.get('alice', '/api/v1/deployments/d-nope/plan')).status).toBe(404);
    expect((await http.get('alice', '/api/v1/deployments/d-nope/logs')).status).toBe(404);
    expect((await post('bob', `/api/v1/deployments/${dev}/approve`, {})).status).toBe(409);

    // Approval gate: staging needs one approval.
    const staged = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'staging' });
    await http.waitFor(staged, ['awaiting_approval']);
    expect((await post('alice', `/api/v1/deployments/${staged}/approve`, {})).status).toBe(403);
    expect((await post('bob', `/api/v1/deployments/${staged}/approve`, { planHash: 'deadbeef' })).status).toBe(409);
    expect((await post('bob', `/api/v1/deployments/${staged}/approve`, { comment: 'ok' })).status).toBe(200);
    const rejected = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'prod' });
    await http.waitFor(rejected, ['awaiting_approval']);
    expect((await post('bob', `/api/v1/deployments/${rejected}/reject`, { reason: 'no' })).status).toBe(200);
    expect((await post('bob', `/api/v1/deployments/${rejected}/reject`, { reason: 'again' })).status).toBe(409);
    const cancelled = await http.deploy('alice', { stack: 'sim-multicloud', environment: 'prod' });
    expect((await post('bob', `/api/v1/deployments/${cancelled}/cancel`)).status).toBe(403);
    expect((await post('alice', `/api/v1/deployments/${cancelled}/cancel`)).status).toBe(202);
    expect((await post('alice', '/api/v1/deployments/d-nope/cancel')).status).toBe(404);

    // Stacks and state.
    const env_ = '/api/v1/stacks/sim-multicloud/environments';
    expect((await http.get('alice', `${env_}/dev/state`)).status).toBe(200);
    expect((await http.get('alice', `${env_}/qa/state`)).status).toBe(400);
    expect((await http.get('alice', `${env_}/staging/state/history?limit=5`)).status).toBe(200);
    expect((await http.get('alice', '/api/v1/stacks/hello-local/environments/dev/state')).status).toBe(404);
    expect((await post('alice', `${env_}/dev/rollback`, { targetVersion: 99 })).status).toBe(404);
    const current = (await http.get('alice', `${env_}/dev/state`)).body.version as number;
    expect((await post('alice', `${env_}/dev/rollback`, { targetVersion: current })).status).toBe(409);
    expect((await http.get('alice', `${env_}/dev/drift`)).status).toBe(404);
    expect((await post('alice', `${env_}/dev/drift-scan`, {})).status).toBe(202);
    await eventually(async () => (await http.get('alice', `${env_}/dev/drift`)).status === 200, 'a drift report');
    expect((await post('alice', `${env_}/dev/unlock`, {})).status).toBe(403);
    expect((await post('carol', `${env_}/dev/unlock`, {})).status).toBe(200);
    expect((await post('alice', `${env_}/staging/destroy`, { reason: 'cleanup' })).status).toBe(202);

    // Failovers and monitors.
    expect((await post('alice', '/api/v1/failovers', { group: 'nope', mode: 'planned' })).status).toBe(400);
    const fo = await post('alice', '/api/v1/failovers', { group: 'web', mode: 'planned', reason: 'drill' });
    expect(fo.status).toBe(202);
    expect((await post('alice', '/api/v1/failovers', { group: 'web', mode: 'planned' })).status).toBe(409);
    expect((await http.get('alice', '/api/v1/failovers?group=web')).status).toBe(200);
    await eventually(
      async () => (await http.get('alice', `/api/v1/failovers/${fo.body.id}`)).body.status === 'awaiting_approval',
      'failover awaiting approval',
    );
    expect((await post('alice', `/api/v1/failovers/${fo.body.id}/approve`, {})).status).toBe(403);
    expect((await post('bob', `/api/v1/failovers/${fo.body.id}/reject`, { reason: 'not today' })).status).toBe(200);
    expect((await post('bob', `/api/v1/failovers/${fo.body.id}/approve`, {})).status).toBe(409);
    expect((await http.get('alice', '/api/v1/failovers/web-000000000000')).status).toBe(404);
    expect((await http.get('alice', '/api/v1/failover-groups/web/monitor')).status).toBe(200);
    expect((await http.get('alice', '/api/v1/failover-groups/nope/monitor')).status).toBe(400);
    expect(
      (
        await request(app)
          .delete('/api/v1/failover-groups/web/monitor')
          .set('Authorization', 'Bearer alice-deployer-dev-token')
      ).status,
    ).toBe(404);
    expect((await post('alice', '/api/v1/failover-groups/web/monitor')).status).toBe(202);
    expect(
      (
        await request(app)
          .delete('/api/v1/failover-groups/web/monitor')
          .set('Authorization', 'Bearer alice-deployer-dev-token')
      ).status,
    ).toBe(202);

    const wrong = await request(app)
      .patch('/api/v1/deployments')
      .set('Authorization', 'Bearer alice-deployer-dev-token');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST, GET, HEAD');

    const seen = await observedStatuses(app);
    expect(new Set(seen.map((o) => o.status))).toEqual(
      new Set(['200', '202', '400', '401', '403', '404', '405', '409', '413']),
    );
    expect(await undocumentedStatuses(app)).toEqual([]);
  });
});
