/**
 * A run's GET answers from the read cache while the revision its memo publishes stands still, so a waiting run is
 * read without a worker replaying it, however much its history grows meanwhile; the moment its document changes
 * (an approval that keeps the status as it was, say), the next read asks the workflow again.
 */
import request from 'supertest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { createApp } from '../../src/api/app';
import { RunGateway } from '../../src/client/runs';
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { eventually, startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';

const alice = { Authorization: 'Bearer alice-deployer-dev-token' };
const bob = { Authorization: 'Bearer bob-approver-dev-token' };
const EventType = temporal.api.enums.v1.EventType;

describe('read cache', () => {
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker | undefined;
  const config = testConfig();

  beforeAll(async () => {
    env = await startTemporal();
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  it('serves a waiting run without a worker while only its history grows, and asks again once it changes', async () => {
    const app = createApp({ temporal: { client: env.client }, config });
    worker = await startWorker(env, config);
    const started = await request(app)
      .post('/api/v1/deployments')
      .set(alice)
      .send({ stack: 'sim-multicloud', environment: 'prod' });
    expect(started.status).toBe(202);
    const id: string = started.body.id;
    const handle = env.client.workflow.getHandle(deploymentWorkflowId(id));

    // The first read that sees the run waiting is the one kept, whatever was still in flight when it was taken.
    let waiting: Record<string, unknown> = {};
    await eventually(async () => {
      waiting = (await request(app).get(`/api/v1/deployments/${id}`).set(alice)).body;
      return waiting.status === 'awaiting_approval';
    }, 'run awaiting approval');
    expect(typeof waiting.revision).toBe('number');

    // The history grows, the document does not: a signal no handler knows, taken in a workflow task of its own
    // (as the approvers' notification finishing, a timer, a heartbeat would).
    const before = (await handle.describe()).historyLength;
    await handle.signal('strata-test-history-grows');
    await eventually(async () => {
      const d = await handle.describe();
      return d.historyLength > before + 1 && !d.raw.pendingWorkflowTask;
    }, 'signal taken by the worker');
    const settled = await handle.describe();
    expect(settled.memo?.revision).toBe(waiting.revision);

    // The memo's revision is written by the very task completion that changed the document: none after the
    // status went to awaiting_approval, since nothing changed it after.
    const events = (await handle.fetchHistory()).events ?? [];
    const upserts = events.filter((e) => e.eventType === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
    const lastStatus = events.indexOf(upserts[upserts.length - 1]);
    const memoAfter = events
      .slice(lastStatus)
      .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED);
    expect(memoAfter).toHaveLength(1);
    const between = events.slice(lastStatus, events.indexOf(memoAfter[0]));
    expect(between.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)).toBe(false);

    // No worker from here on: only the cache can answer a query-backed read.
    await worker.stop();
    worker = undefined;
    const cached = await request(app).get(`/api/v1/deployments/${id}`).set(alice);
    expect(cached.status).toBe(200);
    expect(cached.body).toEqual(waiting);
    // The status query itself has no one to answer it.
    const gateway = new RunGateway(env.client, config.temporal.taskQueue);
    await expect(env.client.withDeadline(Date.now() + 3000, () => gateway.queryOpen(id))).resolves.toBeUndefined();

    // Bob's approval (one of two) changes the document but not its status.
    worker = await startWorker(env, config);
    const approved = await request(app).post(`/api/v1/deployments/${id}/approve`).set(bob).send({});
    expect(approved.status).toBe(200);
    expect(approved.body.approvals).toHaveLength(1);
    expect(approved.body.revision).toBeGreaterThan(waiting.revision as number);
    const fresh = await request(app).get(`/api/v1/deployments/${id}`).set(alice);
    expect(fresh.body).toMatchObject({ status: 'awaiting_approval', revision: approved.body.revision });
    expect(fresh.body.approvals).toHaveLength(1);
  });
});
