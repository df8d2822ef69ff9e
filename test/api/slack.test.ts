/**
 * Slack approve/reject buttons: the approval message goes to a local Slack API stub, and signed block-action
 * callbacks come back through POST /slack/events into the same approval Update as the HTTP API.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { api } from '../helpers/api-client';
import { eventually, startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';

const SECRET = 'test-signing-secret';

function signed(body: string, secret = SECRET, ts = Math.floor(Date.now() / 1000)) {
  const sig = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
  return {
    'X-Slack-Request-Timestamp': String(ts),
    'X-Slack-Signature': sig,
    'Content-Type': 'application/x-www-form-urlencoded',
  };
}

const press = (actionId: string, runId: string, userId: string) =>
  `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: userId }, actions: [{ action_id: actionId, value: runId }] }))}`;

describe('Slack approvals', () => {
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker;
  let stub: http.Server;
  const posted: { auth?: string; body: any }[] = [];
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    stub = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        posted.push({ auth: req.headers.authorization, body: JSON.parse(data) });
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ ok: true, ts: '1.2' }));
      });
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    const config = testConfig({
      environments: { qa: { approvals: { required: 1, timeout: '1h' } } },
      slack: {
        signingSecret: SECRET,
        botToken: 'xoxb-test',
        channel: '#deploys',
        apiUrl: `http://127.0.0.1:${(stub.address() as AddressInfo).port}`,
        users: { U_BOB: 'bob', U_ALICE: 'alice' },
      },
    });
    env = await startTemporal();
    worker = await startWorker(env, config);
    app = createApp({ temporal: { client: env.client }, config });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
    stub?.close();
  });

  it('posts Approve/Reject buttons and approves from a signed button press', async () => {
    const h = api(app);
    const id = await h.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 1 },
    });
    await h.waitFor(id, ['awaiting_approval']);
    const msg = await eventually(() => posted.find((p) => JSON.stringify(p.body).includes(id)), 'the Slack message');
    expect(msg.auth).toBe('Bearer xoxb-test');
    expect(msg.body.channel).toBe('#deploys');
    const buttons = msg.body.blocks.find((b: { type: string }) => b.type === 'actions').elements;
    expect(buttons.map((b: { action_id: string; value: string }) => [b.action_id, b.value])).toEqual([
      ['strata_approve', id],
      ['strata_reject', id],
    ]);

    const forged = press('strata_approve', id, 'U_BOB');
    expect((await request(app).post('/slack/events').set(signed(forged, 'wrong-secret')).send(forged)).status).toBe(
      401,
    );
    const stale = await request(app)
      .post('/slack/events')
      .set(signed(forged, SECRET, Math.floor(Date.now() / 1000) - 600))
      .send(forged);
    expect(stale.status).toBe(401);

    const own = press('strata_approve', id, 'U_ALICE');
    const refused = await request(app).post('/slack/events').set(signed(own)).send(own);
    expect(refused.status).toBe(200);
    expect(refused.body.text).toMatch(/^Not approved: .*approver role/);

    const stranger = press('strata_approve', id, 'U_NOBODY');
    expect((await request(app).post('/slack/events').set(signed(stranger)).send(stranger)).body.text).toMatch(
      /not mapped/,
    );

    const ok = await request(app).post('/slack/events').set(signed(forged)).send(forged);
    expect(ok.status).toBe(200);
    expect(ok.body.text).toMatch(/^bob approved deploy of sim-multicloud → qa/);
    const done = await h.waitFor(id, ['succeeded']);
    expect(done.approvals).toEqual([expect.objectContaining({ by: 'bob', comment: 'via Slack' })]);
  });

  it('rejects from a button press', async () => {
    const h = api(app);
    const id = await h.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 2 },
    });
    await h.waitFor(id, ['awaiting_approval']);
    const body = press('strata_reject', id, 'U_BOB');
    const res = await request(app).post('/slack/events').set(signed(body)).send(body);
    expect(res.body.text).toMatch(/bob rejected/);
    await h.waitFor(id, ['rejected']);
  });
});
