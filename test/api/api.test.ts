import request from 'supertest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { startTemporal, startWorker, testConfig, eventually, type RunningWorker } from '../helpers/temporal';
import { undocumentedStatuses } from './documented-statuses';

const alice = { Authorization: 'Bearer alice-deployer-dev-token' };
const bob = { Authorization: 'Bearer bob-approver-dev-token' };

describe('HTTP API skeleton', () => {
  let env: TestWorkflowEnvironment;
  const config = testConfig();
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    env = await startTemporal();
    app = createApp({ temporal: { client: env.client }, config });
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('answers /health', async () => {
    const res = await request(app).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('is not ready until a worker polls, then ready', async () => {
    const before = await request(app).get('/ready');
    expect(before.status).toBe(503);
    expect(before.body.reason).toMatch(/no worker polls/);
    let worker: RunningWorker | undefined;
    try {
      worker = await startWorker(env, config);
      await eventually(async () => (await request(app).get('/ready')).status === 200, '/ready 200');
    } finally {
      await worker?.stop();
    }
  });

  it('requires a bearer token on /api/v1 and lists stacks', async () => {
    expect((await request(app).get('/api/v1/stacks')).status).toBe(401);
    const unknown = await request(app).get('/api/v1/stacks').set({ Authorization: 'Bearer nope-nope-nope' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe('UNAUTHENTICATED');
    const res = await request(app).get('/api/v1/stacks').set(alice);
    expect(res.status).toBe(200);
    const names = res.body.items.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining(['hello-local', 'sim-multicloud']));
    const hello = res.body.items.find((s: { name: string }) => s.name === 'hello-local');
    expect(hello.environments.map((e: { name: string }) => e.name)).toEqual(['dev', 'staging', 'prod']);
    expect(hello.environments[0]).toMatchObject({ locked: false });
  });

  it('validates bodies with errors that name the field, never a 5xx', async () => {
    const bad = await request(app)
      .post('/api/v1/deployments')
      .set(alice)
      .send({ stack: 'hello-local', environment: 42 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.message).toContain('body.environment');
    const malformed = await request(app)
      .post('/api/v1/deployments')
      .set({ ...alice, 'Content-Type': 'application/json' })
      .send('{"stack":');
    expect(malformed.status).toBe(400);
    const huge = await request(app)
      .post('/api/v1/deployments')
      .set(alice)
      .send({ stack: 'x'.repeat(300_000), environment: 'dev' });
    expect(huge.status).toBe(413);
    const unknownStack = await request(app)
      .post('/api/v1/deployments')
      .set(alice)
      .send({ stack: 'nope', environment: 'dev' });
    expect(unknownStack.status).toBe(400);
    expect(unknownStack.body.error.message).toMatch(/unknown stack "nope"/);
  });

  it('enforces roles: an approver cannot start a deployment', async () => {
    const res = await request(app)
      .post('/api/v1/deployments')
      .set(bob)
      .send({ stack: 'hello-local', environment: 'dev' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
  });

  it('returns 404 for an unknown run and serves /openapi.json from the zod schemas', async () => {
    expect((await request(app).get('/api/v1/deployments/d-nope').set(alice)).status).toBe(404);
    const doc = await request(app).get('/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.0.3');
    const post = doc.body.paths['/api/v1/deployments'].post;
    // One alternative per configured stack, each with the common fields.
    for (const alt of post.requestBody.content['application/json'].schema.anyOf)
      expect(alt.properties).toHaveProperty('idempotencyKey');
    expect(doc.body.paths).toHaveProperty(['/api/v1/deployments/{id}/approve']);
    expect(doc.body.paths).toHaveProperty(['/api/v1/stacks/{stack}/environments/{env}/rollback']);
  });

  // Last in this block: every status the requests above got is one /openapi.json lists for its operation.
  it('documents every status the tests above saw', async () => {
    expect(await undocumentedStatuses(app)).toEqual([]);
  });
});

describe('GET /metrics', () => {
  let env: TestWorkflowEnvironment;
  const config = testConfig();

  beforeAll(async () => {
    env = await startTemporal();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('serves Prometheus text with request counters, latency histograms and Temporal gauges', async () => {
    const app = createApp({ temporal: { client: env.client }, config });
    await request(app).get('/api/v1/stacks').set(alice);
    await request(app).get('/api/v1/stacks');
    const res = await request(app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toContain('strata_http_requests_total{method="GET",route="/api/v1/stacks/",status="200"} 1');
    // Refused before routing, the 401 still counts against the route it was for.
    expect(res.text).toContain('strata_http_requests_total{method="GET",route="/api/v1/stacks/",status="401"} 1');
    expect(res.text).toMatch(
      /strata_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/stacks\/"\} 2/,
    );
    expect(res.text).toContain('strata_temporal_up 1');
    expect(res.text).toContain('strata_runs{status="awaiting_approval"} 0');
  });
});
