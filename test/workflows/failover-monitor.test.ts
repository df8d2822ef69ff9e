/**
 * The FailoverMonitorWorkflow as an operator lives with it: configuration edited in strata.yaml reaches the
 * running monitor at the worker's next start, a stop during a probe never starts a failover, and an activity
 * that errors is recorded while the monitor goes on probing (it must never quietly stop watching).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createGateway } from '../../src/client';
import { monitorInputFor } from '../../src/shared/failover-input';
import { ensureFailoverMonitors } from '../../src/worker/schedules';
import {
  failoverMonitorWorkflowId,
  monitorStatusQuery,
  stopMonitorSignal,
  type FailoverMonitorState,
} from '../../src/contracts/monitor';
import { FailoverGroupKey, KindKey } from '../../src/shared/search-attributes';
import type { failoverMonitorWorkflow } from '../../src/workflows/failover-monitor';
import { parseGroup } from '../helpers/failover-fixture';
import { recordHistory } from '../helpers/histories';
import { startFailoverWorker, until, type FailoverWorker } from '../helpers/failover-worker';
import { startTemporal, testConfig } from '../helpers/temporal';

/** A health endpoint per group: answers `status`, or holds each request until the test releases it. */
interface Probe {
  url: string;
  status: number;
  hold: boolean;
  held: http.ServerResponse[];
  requests: number;
}

describe('FailoverMonitorWorkflow under configuration changes, stops and failing activities', () => {
  let env: TestWorkflowEnvironment;
  const workers: FailoverWorker[] = [];
  let server: http.Server;
  const taskQueue = `failover-monitor-${randomUUID()}`;
  const brokenQueue = `failover-monitor-broken-${randomUUID()}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fo-mon-'));
  const probes: Record<string, Probe> = {};
  let base = '';

  /** A simulated group probed over HTTP every 200 ms; `health` overrides the rest of its health settings. */
  const group = (name: string, health: Record<string, unknown> = {}) =>
    parseGroup(name, {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 2 },
      secondary: { region: 'us-west-2' },
      approval: { required: 0 },
      health: { every: '200ms', failuresToTrigger: 1, url: `${base}/${name}`, timeout: '10s', ...health },
    });
  const names = ['mon-reconfigured', 'mon-stopped', 'mon-broken'];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const p = probes[req.url!.slice(1)];
      if (!p) return void res.writeHead(404).end();
      p.requests++;
      if (p.hold) p.held.push(res);
      else res.writeHead(p.status).end(String(p.status));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const n of names) probes[n] = { url: `${base}/${n}`, status: 200, hold: false, held: [], requests: 0 };
    const groups = Object.fromEntries(names.map((n) => [n, group(n)]));
    env = await startTemporal();
    workers.push(await startFailoverWorker(env, taskQueue, { groups, simulated: { dataDir } }));
    // The same activities, but their Temporal client cannot reach the server (and does not retry): every
    // isWorkflowRunning errors at once.
    const unreachable = new Client({
      connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s', interceptors: [] }),
    });
    workers.push(
      await startFailoverWorker(env, brokenQueue, { groups, simulated: { dataDir } }, { temporalClient: unreachable }),
    );
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await env?.teardown();
    for (const p of Object.values(probes)) for (const r of p.held) r.destroy();
    await new Promise((r) => server?.close(r));
  });

  const handle = (name: string) =>
    env.client.workflow.getHandle<typeof failoverMonitorWorkflow>(failoverMonitorWorkflowId(name));
  const status = (name: string) => handle(name).query(monitorStatusQuery);
  const startMonitor = (name: string, queue: string) =>
    env.client.workflow.start<typeof failoverMonitorWorkflow>('failoverMonitorWorkflow', {
      workflowId: failoverMonitorWorkflowId(name),
      taskQueue: queue,
      args: [monitorInputFor(name, group(name))],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: KindKey, value: 'failover-monitor' },
        { key: FailoverGroupKey, value: name },
      ]),
    });

  it("the worker's ensure-monitors step hands a changed configuration to the monitor already running", async () => {
    const name = 'mon-reconfigured';
    const configWith = (health: Record<string, unknown>) =>
      testConfig({ failoverGroups: { [name]: group(name, { autoStart: true, ...health }) }, temporal: { taskQueue } });
    expect(
      await ensureFailoverMonitors(
        createGateway(env.client, { namespace: 'default', taskQueue }),
        configWith({ failuresToTrigger: 5 }),
      ),
    ).toEqual([name]);
    await until(async () => ((await status(name).catch(() => undefined))?.probes ?? 0) >= 1, 'a first probe');

    // strata.yaml now says: trigger after a single failed probe. The worker restarts and ensures its monitors.
    await ensureFailoverMonitors(
      createGateway(env.client, { namespace: 'default', taskQueue }),
      configWith({ failuresToTrigger: 1 }),
    );
    probes[name].status = 503;
    const fired = await until(async () => {
      const s = await status(name);
      return s.triggered.length > 0 ? s : undefined;
    }, 'the monitor to trigger');
    expect(fired.triggered[0].afterFailures).toBe(1);
    expect(fired.config?.failuresToTrigger).toBe(1);
    expect(fired.lastConfigChange?.changes).toEqual(['failuresToTrigger 5 → 1']);
    await handle(name).signal(stopMonitorSignal, { by: 'test' });
    expect((await handle(name).result()).status).toBe('stopped');
    await recordHistory(env.address, failoverMonitorWorkflowId(name), 'monitor-reconfigured-then-triggered');
  });

  it('a stop that arrives while a probe is in flight never starts a failover', async () => {
    const name = 'mon-stopped';
    const p = probes[name];
    p.hold = true;
    p.status = 503;
    const h = await startMonitor(name, taskQueue);
    await until(() => p.held.length > 0, 'a probe to be in flight');
    await h.signal(stopMonitorSignal, { by: 'test' });
    // The probe comes back failed only after the stop was recorded: with failuresToTrigger 1 it would trigger.
    for (const r of p.held.splice(0)) r.writeHead(503).end('503');
    p.hold = false;
    const end: FailoverMonitorState = await h.result();
    expect(end.status).toBe('stopped');
    expect(end.triggered).toEqual([]);
    await recordHistory(env.address, h.workflowId, 'monitor-stopped-during-probe');
  });

  it('an activity that keeps failing is recorded, and the monitor keeps probing', async () => {
    const name = 'mon-broken';
    probes[name].status = 503; // the first probe triggers; every later probe must ask whether that failover runs
    const h = await startMonitor(name, brokenQueue);
    const seen = await until(
      async () => {
        const d = await h.describe();
        if (d.status.name !== 'RUNNING') return d.status.name;
        const s = await status(name);
        return s.lastError && s.probes >= (s.lastError.probe ?? 0) + 1 ? s : undefined;
      },
      'the monitor to record the error and probe again (or to stop running)',
      60_000,
    );
    expect(seen).toMatchObject({ status: 'failover_running', lastError: { message: expect.any(String) } });
    expect((await h.describe()).status.name).toBe('RUNNING');
    await h.signal(stopMonitorSignal, { by: 'test' });
    expect((await h.result()).status).toBe('stopped');
    await recordHistory(env.address, h.workflowId, 'monitor-activity-error-keeps-probing');
  });
});
