/**
 * A run's GET answers from the read cache while its history stands still, so a waiting run is read without a
 * worker replaying it; the moment its history grows, the next read asks the workflow again.
 */
import request from 'supertest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { RunGateway } from '../../src/client/runs';
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { eventually, startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';

const alice = { Authorization: 'Bearer alice-deployer-dev-token' };

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

  it('serves an unchanged run without a worker and asks again once its history grows', async () => {
    const app = createApp({ temporal: { client: env.client }, config });
    worker = await startWorker(env, config);
    const started = await request(app)
      .post('/api/v1/deployments')
      .set(alice)
      .send({ stack: 'sim-multicloud', environment: 'prod' });
    expect(started.status).toBe(202);
    const id: string = started.body.id;
    const handle = env.client.workflow.getHandle(deploymentWorkflowId(id));
    let waiting: Record<string, unknown> = {};
    // Read once the run has settled: a read taken while a workflow task was still in flight is keyed to a history
    // length that task then moves past, so it could never be served again.
    await eventually(async () => {
      const before = (await handle.describe()).historyLength;
      waiting = (await request(app).get(`/api/v1/deployments/${id}`).set(alice)).body;
      const after = await handle.describe();
      return waiting.status === 'awaiting_approval' && after.historyLength === before && !after.raw.pendingWorkflowTask;
    }, 'run settled awaiting approval');

    // No worker from here on: only the cache can answer a query-backed read.
    await worker.stop();
    worker = undefined;
    const cached = await request(app).get(`/api/v1/deployments/${id}`).set(alice);
    expect(cached.status).toBe(200);
    expect(cached.body).toEqual(waiting);

    // A signal no handler knows still lands in the history; the cached answer is then out of date.
    await handle.signal('strata-test-history-grows');
    const gateway = new RunGateway(env.client, config.temporal.taskQueue);
    await expect(env.client.withDeadline(Date.now() + 3000, () => gateway.read(id))).rejects.toThrow();

    // A worker again: the run answers live, and what it says is the same waiting run.
    worker = await startWorker(env, config);
    const live = await request(app).get(`/api/v1/deployments/${id}`).set(alice);
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('awaiting_approval');
    expect((await handle.describe()).historyLength).toBeGreaterThan(0);
  });
});
