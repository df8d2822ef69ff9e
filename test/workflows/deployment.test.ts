/**
 * The deployment saga end to end over HTTP: real Temporal dev server, real worker, real OpenTofu against
 * stacks/hello-local. Each status path of the HTTP API is reached through the routes a user calls.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { recordHistory } from '../helpers/histories';
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

describe('deployment saga over HTTP (OpenTofu, hello-local)', () => {
  const config = testConfig({
    environments: {
      dev: { approvals: { required: 0 }, autoRollback: true },
      prod: { approvals: { required: 2, fourEyes: true, timeout: '72h' }, autoRollback: true },
      qa: { approvals: { required: 1, timeout: '2s' } },
    },
  });
  const outDir = path.join(config.stacks['hello-local'].variables.strata_data_dir as string, 'out');
  const files = (dir: string) =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith('.txt'))
          .sort()
      : [];

  const s = useStrata(config);

  it('dev: runs to succeeded with no approval and creates the files; a second run has no changes', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'dev',
      variables: { message: 'one', file_count: 2 },
    });
    const d = await s.http.waitFor(id, ['succeeded']);
    expect(d.plan).toMatchObject({ add: expect.any(Number), destroy: 0 });
    expect(d.stateVersion).toBe(1);
    expect(d.approvalsRequired).toBe(0);
    const dir = path.join(outDir, 'dev');
    expect(files(dir)).toHaveLength(2);
    for (const f of files(dir)) expect(fs.readFileSync(path.join(dir, f), 'utf8')).toBe('one');

    const again = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'dev',
      variables: { message: 'one', file_count: 2 },
    });
    expect((await s.http.waitFor(again, ['no_changes'])).plan).toMatchObject({ add: 0, change: 0, destroy: 0 });

    const logs = await s.http.get('alice', `/api/v1/deployments/${id}/logs`);
    expect(logs.status).toBe(200);
    expect(logs.body.items.some((l: { resource?: string }) => l.resource?.startsWith('local_file'))).toBe(true);

    // The same log as a server-sent event stream: every item, then `end` once the run is over.
    const sse = await s.http
      .get('alice', `/api/v1/deployments/${id}/logs`)
      .set('Accept', 'text/event-stream')
      .buffer(true)
      .parse((res, cb) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => cb(null, text));
      });
    expect(sse.headers['content-type']).toMatch(/text\/event-stream/);
    const events = (sse.body as string).split('\n\n').filter(Boolean);
    expect(events.filter((e) => e.startsWith('data: ')).length).toBe(logs.body.items.length);
    expect(events.at(-1)).toBe('event: end\ndata: {}');
  });

  it('prod: waits for two approvals, enforces roles, four-eyes, duplicates and plan hash, then applies', async () => {
    const id = await s.http.deploy('carol', {
      stack: 'hello-local',
      environment: 'prod',
      variables: { message: 'prod' },
    });
    const waiting = await s.http.waitFor(id, ['awaiting_approval']);
    expect(waiting.approvalsRequired).toBe(2);
    const planRes = await s.http.get('alice', `/api/v1/deployments/${id}/plan`);
    expect(planRes.body.risk).toBe('low');

    expect((await s.http.post('alice', `/api/v1/deployments/${id}/approve`)).status).toBe(403); // deployer, not approver
    const own = await s.http.post('carol', `/api/v1/deployments/${id}/approve`);
    expect(own.status).toBe(403); // four-eyes: carol requested it
    expect(own.body.error.message).toMatch(/four-eyes/);
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/approve`, { planHash: 'deadbeef' })).status).toBe(409);

    const first = await s.http.post('bob', `/api/v1/deployments/${id}/approve`, {
      planHash: waiting.plan!.planHash,
      comment: 'lgtm',
    });
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('awaiting_approval');
    expect(first.body.approvals).toEqual([expect.objectContaining({ by: 'bob', comment: 'lgtm' })]);
    const dup = await s.http.post('bob', `/api/v1/deployments/${id}/approve`);
    expect(dup.status).toBe(409);
    expect(dup.body.error.message).toMatch(/already approved/);

    const last = await s.http.post('dave', `/api/v1/deployments/${id}/approve`);
    expect(last.status).toBe(200);
    // Answered from the Update itself: the run as the last approval left it, already applying.
    expect(last.body).toMatchObject({ id, status: 'applying', approvals: [{ by: 'bob' }, { by: 'dave' }] });
    const done = await s.http.waitFor(id, ['succeeded']);
    expect(done.approvals.map((a) => a.by)).toEqual(['bob', 'dave']);
    await recordHistory(s.env.address, deploymentWorkflowId(id), 'deployment-prod-approved-succeeded');
    expect(files(path.join(outDir, 'prod')).length).toBeGreaterThan(0);
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/approve`)).status).toBe(409);
  });

  it('GET ?wait=S answers once the run has ended, or after S seconds with the run as it stands', async () => {
    const dry = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'dev',
      dryRun: true,
      variables: { message: 'waited for' },
    });
    // One request, no polling: it returns when the workflow's result is there.
    const ended = await s.http.get('alice', `/api/v1/deployments/${dry}?wait=30`);
    expect(ended.status).toBe(200);
    expect(ended.body.status).toBe('planned');

    const gated = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'w' },
    });
    await s.http.waitFor(gated, ['awaiting_approval']);
    const started = Date.now();
    const open = await s.http.get('alice', `/api/v1/deployments/${gated}?wait=1`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(open.body.status).toBe('awaiting_approval');
    expect((await s.http.get('alice', `/api/v1/deployments/${gated}?wait=61`)).status).toBe(400);
    await s.http.post('bob', `/api/v1/deployments/${gated}/reject`, { reason: 'only a test' });
  });

  it('a rejected run ends rejected without changes; an unapproved one expires', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'nope' },
    });
    await s.http.waitFor(id, ['awaiting_approval']);
    const res = await s.http.post('bob', `/api/v1/deployments/${id}/reject`, { reason: 'not today' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('rejected');
    expect(files(path.join(outDir, 'qa'))).toHaveLength(0);

    const late = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'late' },
    });
    const expired = await s.http.waitFor(late, ['expired']);
    await recordHistory(s.env.address, deploymentWorkflowId(late), 'deployment-approval-expired');
    expect(expired.error?.code).toBe('APPROVAL_EXPIRED');
    expect(files(path.join(outDir, 'qa'))).toHaveLength(0);
    expect((await s.http.post('bob', `/api/v1/deployments/${late}/approve`)).status).toBe(409);
  });

  it('the same idempotency key returns the same run; a dry run ends planned without applying', async () => {
    const body = {
      stack: 'hello-local',
      environment: 'qa',
      dryRun: true,
      idempotencyKey: 'pr-42',
      variables: { message: 'dry' },
    };
    const a = await s.http.deploy('alice', body);
    const b = await s.http.deploy('alice', body);
    expect(b).toBe(a);
    const d = await s.http.waitFor(a, ['planned']);
    expect(d.plan!.add).toBeGreaterThan(0);
    expect(files(path.join(outDir, 'qa'))).toHaveLength(0);
  });

  it('queues a second run on the same stack/environment and never overlaps their applies', async () => {
    const a = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'first' },
    });
    const b = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'second' },
    });
    await s.http.waitFor(a, ['awaiting_approval']);
    const queued = await s.http.run(b);
    expect(queued.status).toBe('queued');
    expect(queued.queuePosition).toBe(1);
    const stacks = await s.http.get('alice', '/api/v1/stacks');
    const qa = stacks.body.items
      .find((s: { name: string }) => s.name === 'hello-local')
      .environments.find((e: { name: string }) => e.name === 'qa');
    expect(qa).toMatchObject({ locked: true, lockHolder: a });

    expect((await s.http.post('bob', `/api/v1/deployments/${a}/approve`)).status).toBe(200);
    await s.http.waitFor(b, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/deployments/${b}/approve`)).status).toBe(200);
    const [da, db] = [await s.http.waitFor(a, ['succeeded']), await s.http.waitFor(b, ['succeeded'])];
    expect(Date.parse(da.applyCompletedAt!)).toBeLessThanOrEqual(Date.parse(db.applyStartedAt!));
  });

  it('cancel while awaiting approval ends cancelled and releases the lock', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'cancel me' },
    });
    await s.http.waitFor(id, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/cancel`)).status).toBe(403); // not bob's run
    expect((await s.http.post('alice', `/api/v1/deployments/${id}/cancel`)).status).toBe(202);
    await s.http.waitFor(id, ['cancelled']);
    const next = await s.http.deploy('alice', {
      stack: 'hello-local',
      environment: 'qa',
      variables: { message: 'after cancel' },
    });
    await s.http.waitFor(next, ['awaiting_approval']);
    await s.http.post('bob', `/api/v1/deployments/${next}/reject`);
  });

  it('lists runs through a visibility query on search attributes', async () => {
    const res = await s.http.get('alice', '/api/v1/deployments?environment=prod&status=succeeded');
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeGreaterThanOrEqual(1);
    for (const d of res.body.items) expect(d).toMatchObject({ environment: 'prod', status: 'succeeded' });
  });
});

describe('the approval window (Slack slow to answer)', () => {
  // A Slack API stub that holds every chat.postMessage until the test lets it answer.
  const held: http.ServerResponse[] = [];
  const answer = () => held.splice(0).forEach((res) => res.end(JSON.stringify({ ok: true, ts: '1.2' })));
  const stub = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      held.push(res);
    });
  });
  const config = testConfig({
    environments: { qa: { approvals: { required: 1, timeout: '1h' } } },
    slack: {
      signingSecret: 'test-signing-secret',
      botToken: 'xoxb-test',
      channel: '#deploys',
      apiUrl: 'http://127.0.0.1:9',
    },
  });
  beforeAll(async () => {
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    config.slack!.apiUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    answer();
    stub.close();
  });
  const s = useStrata(config);

  it('an approval sent as soon as the run says awaiting_approval is accepted while the approvers are still being told', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'qa',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(id, ['awaiting_approval']);
    const res = await s.http.post('bob', `/api/v1/deployments/${id}/approve`);
    expect([res.status, res.body.error]).toEqual([200, undefined]);
    // The Slack message was still on its way: the approval did not wait for it.
    await eventually(() => held.length > 0, 'the Slack message to arrive');
    await s.http.waitFor(id, ['succeeded']);
    answer();
    // The simulated cloud plans in one step and verifies-and-records in one; replayed from here on.
    await recordHistory(s.env.address, deploymentWorkflowId(id), 'deployment-sim-approved-succeeded');
  });
});
