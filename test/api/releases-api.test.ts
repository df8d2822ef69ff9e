/**
 * The release routes over HTTP on a real dev server and worker: start (inline and by name), list with filters,
 * read, approve and reject (the whole release, or one stack's run where each stack is approved on its own),
 * override, cancel — each with its refusals — and /openapi.json documenting every status they answered.
 */
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { api } from '../helpers/api-client';
import { releases } from '../helpers/release-client';
import { releaseConfig } from '../helpers/release-fixture';
import { eventually, startTemporal, startWorker, type RunningWorker } from '../helpers/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { undocumentedStatuses } from './documented-statuses';

const config = releaseConfig();

describe('/api/v1/releases', () => {
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

  it('answers every route with what it documents', async () => {
    const rel = releases(http);
    const post = (user: Parameters<typeof http.post>[0], url: string, body: object = {}) => http.post(user, url, body);

    // Start: refusals before anything runs, then a release by name.
    expect((await request(app).post('/api/v1/releases').send({ name: 'platform' })).status).toBe(401);
    expect((await post('bob', '/api/v1/releases', { name: 'platform' })).status).toBe(403);
    const bad = await post('alice', '/api/v1/releases', {
      environment: 'dev',
      stacks: [{ stack: 'sim-db', variables: { db_size: 7 } }],
      maxParallel: 0,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('body.maxParallel');
    expect((await post('alice', '/api/v1/releases', { name: 'platform', stacks: [] })).status).toBe(400);
    expect((await post('alice', '/api/v1/releases', { name: 'nope' })).body.error.message).toContain(
      'no release file named "nope"',
    );
    expect(
      (await post('alice', '/api/v1/releases', { environment: 'dev', stacks: [{ stack: 'x'.repeat(300_000) }] }))
        .status,
    ).toBe(413);
    const started = await post('alice', '/api/v1/releases', { name: 'platform', idempotencyKey: 'platform-dev-1' });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      environment: 'dev',
      waves: [['sim-network'], ['sim-db'], ['sim-app']],
      links: { self: `/api/v1/releases/${started.body.id}` },
    });
    // The same idempotency key is the same release.
    expect(
      (await post('alice', '/api/v1/releases', { name: 'platform', idempotencyKey: 'platform-dev-1' })).body.id,
    ).toBe(started.body.id);
    const done = await rel.waitFor(started.body.id, ['succeeded']);
    expect(done.cost).toMatchObject({ currency: 'USD' });
    expect(done.cost!.monthlyAfter).toBeGreaterThan(0);
    expect(done.policy).toMatchObject({ deny: 0 });

    // Read and list.
    expect((await http.get('alice', `/api/v1/releases/${done.id}`)).status).toBe(200);
    expect((await http.get('alice', '/api/v1/releases/rel-nope')).status).toBe(404);
    expect((await http.get('alice', '/api/v1/releases/bad%20id')).status).toBe(400);
    await eventually(
      async () =>
        (await http.get('alice', '/api/v1/releases?environment=dev&status=succeeded')).body.items?.length === 1,
      'the release in the list',
    );
    expect((await http.get('alice', '/api/v1/releases?environment=prod')).body.items).toEqual([]);
    expect((await http.get('alice', '/api/v1/releases?limit=0')).status).toBe(400);

    // One approval for the whole release (staging: one approver).
    const gated = await rel.start('alice', { name: 'platform', environment: 'staging' });
    const waiting = await rel.waitFor(gated, ['awaiting_approval']);
    expect((await post('alice', `/api/v1/releases/${gated}/approve`)).status).toBe(403);
    expect(
      (await post('bob', `/api/v1/releases/${gated}/approve`, { planHash: 'release-00000000000000' })).status,
    ).toBe(409);
    expect(
      (await post('carol', `/api/v1/releases/${gated}/override-policy`, { reason: 'nothing denies' })).status,
    ).toBe(403);
    expect((await post('bob', `/api/v1/releases/${gated}/override-policy`, { reason: 'x' })).status).toBe(403);
    expect((await post('bob', `/api/v1/releases/${gated}/approve`, { planHash: waiting.planHash })).status).toBe(200);
    await rel.waitFor(gated, ['succeeded']);
    expect((await post('bob', `/api/v1/releases/${gated}/approve`)).status).toBe(409);
    expect((await post('bob', `/api/v1/releases/${gated}/reject`, { reason: 'late' })).status).toBe(409);
    expect((await post('bob', '/api/v1/releases/rel-nope/approve')).status).toBe(404);

    // Each stack on its own: the release forwards a decision to that stack's run.
    const perStack = await rel.start('alice', {
      environment: 'prod',
      approval: 'stack',
      stacks: [{ stack: 'sim-network' }],
    });
    await eventually(
      async () => (await rel.get(perStack)).stacks[0].status === 'awaiting_approval',
      'the stack run to await approval',
    );
    expect((await post('bob', `/api/v1/releases/${perStack}/approve`, { stack: 'sim-db' })).status).toBe(404);
    expect((await post('bob', `/api/v1/releases/${perStack}/approve`, { stack: 'sim-network' })).status).toBe(200);
    expect((await post('bob', `/api/v1/releases/${perStack}/approve`, { stack: 'sim-network' })).status).toBe(409);
    expect(
      (await post('bob', `/api/v1/releases/${perStack}/reject`, { stack: 'sim-network', reason: 'changed my mind' }))
        .status,
    ).toBe(200);
    const rejected = await rel.waitFor(perStack, ['failed']);
    expect(rejected.stacks[0].status).toBe('rejected');

    // Reject the whole release; cancel another.
    const rejectMe = await rel.start('alice', { environment: 'prod', stacks: [{ stack: 'sim-network' }] });
    await rel.waitFor(rejectMe, ['awaiting_approval']);
    expect((await post('bob', `/api/v1/releases/${rejectMe}/reject`, { reason: 'not now' })).body.status).toBe(
      'rejected',
    );
    const cancelMe = await rel.start('alice', { environment: 'prod', stacks: [{ stack: 'sim-network' }] });
    expect((await post('bob', `/api/v1/releases/${cancelMe}/cancel`)).status).toBe(403);
    expect((await post('alice', `/api/v1/releases/${cancelMe}/cancel`)).status).toBe(202);
    await rel.waitFor(cancelMe, ['cancelled']);
    expect((await post('alice', '/api/v1/releases/rel-nope/cancel')).status).toBe(404);

    // Every route is documented, and every status it answered too.
    const doc = (await request(app).get('/openapi.json')).body;
    for (const [p, method] of [
      ['/api/v1/releases', 'post'],
      ['/api/v1/releases', 'get'],
      ['/api/v1/releases/{id}', 'get'],
      ['/api/v1/releases/{id}/approve', 'post'],
      ['/api/v1/releases/{id}/reject', 'post'],
      ['/api/v1/releases/{id}/cancel', 'post'],
      ['/api/v1/releases/{id}/override-policy', 'post'],
      ['/api/v1/deployments/{id}/override-policy', 'post'],
    ]) {
      expect(doc.paths[p]?.[method]).toBeDefined();
    }
    expect(Object.keys(doc.paths['/api/v1/releases'].post.responses).sort()).toEqual([
      '202',
      '400',
      '401',
      '403',
      '413',
      '429',
      '503',
    ]);
    const body = doc.paths['/api/v1/releases'].post.requestBody.content['application/json'].schema;
    expect(body.anyOf).toHaveLength(2);
    expect(
      doc.paths['/api/v1/deployments/{id}/plan'].get.responses['200'].content['application/json'].schema.properties,
    ).toHaveProperty('cost');
    expect(await undocumentedStatuses(app)).toEqual([]);
  });
});
