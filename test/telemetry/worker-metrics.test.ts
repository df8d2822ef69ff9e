/**
 * The worker process as `npm start` runs it, with telemetry on: its Temporal SDK metrics for Prometheus on an
 * address of its own (`telemetry.workerMetricsAddress`), scraped over HTTP, and its workflow and activity spans
 * sent over OTLP/HTTP (`telemetry.otlpEndpoint`) to a collector endpoint the test serves. A real
 * `src/worker/main.ts` process (Runtime.install happens once per process) against a real dev server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import YAML from 'yaml';
import { createApp } from '../../src/api/app';
import { loadConfig } from '../../src/shared/config';
import { api } from '../helpers/api-client';
import { eventually, startTemporal } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('worker metrics', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTemporal();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('exports temporal_ metrics on telemetry.workerMetricsAddress and spans to telemetry.otlpEndpoint', async () => {
    const port = await freePort();
    // The collector: OTLP/HTTP posts to /v1/traces, kept as text (the exporter sends JSON).
    const exports: string[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (b) => (body += b));
      req.on('end', () => {
        if (req.url === '/v1/traces') exports.push(body);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const otlp = `http://127.0.0.1:${(collector.address() as net.AddressInfo).port}/v1/traces`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-metrics-'));
    const file = path.join(dir, 'strata.yaml');
    fs.writeFileSync(
      file,
      YAML.stringify({
        temporal: { address: env.address, taskQueue: `metrics-${randomUUID()}` },
        telemetry: { workerMetricsAddress: `127.0.0.1:${port}`, otlpEndpoint: otlp, serviceName: 'strata-test' },
        auth: { tokens: [{ token: 'alice-deployer-dev-token', subject: 'alice', roles: ['deployer', 'viewer'] }] },
        environments: { dev: {} },
        providers: {
          aws: { region: 'us-west-1' },
          gcp: { region: 'us-central1' },
          azure: { region: 'eastus' },
          dummy: { region: 'test-region' },
        },
        stacks: { sim: { executor: 'simulated', path: path.join(ROOT, 'stacks/sim-multicloud') } },
        stateStore: { kind: 'filesystem', path: path.join(dir, 'state') },
        workDir: path.join(dir, 'work'),
        artifactsDir: path.join(dir, 'artifacts'),
        keysDir: path.join(dir, 'keys'),
      }),
    );
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), 'src/worker/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, STRATA_CONFIG: file, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      const text = await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}: ${stderr}`);
          const res = await fetch(`http://127.0.0.1:${port}/metrics`);
          const body = await res.text();
          // Poller and slot gauges appear once the worker polls its task queue.
          return res.ok && /^temporal_num_pollers\{/m.test(body) ? body : undefined;
        },
        'the worker metrics endpoint to show its pollers',
        120_000,
      );
      const names = new Set(
        text
          .split('\n')
          .filter((l) => l.startsWith('temporal_'))
          .map((l) => l.split(/[{ ]/)[0]),
      );
      expect([...names]).toEqual(
        expect.arrayContaining(['temporal_num_pollers', 'temporal_worker_task_slots_available']),
      );
      expect(text).toMatch(/task_queue="metrics-/);

      // A run on that worker: its workflow (bundled with the tracing interceptors) and activities export spans.
      const http = api(createApp({ temporal: { client: env.client }, config: loadConfig(file) }));
      const id = await http.deploy('alice', { stack: 'sim', environment: 'dev', variables: { instance_count: 1 } });
      await http.waitFor(id, ['succeeded']);
      const sent = await eventually(
        () => {
          const all = exports.join('\n');
          return all.includes('RunWorkflow:deploymentWorkflow') && all.includes('RunActivity:') ? all : undefined;
        },
        'spans at the OTLP endpoint',
        60_000,
      );
      expect(sent).toContain('"stringValue":"strata-test"');
    } finally {
      child.kill('SIGTERM');
      await exited;
      collector.close();
    }
  });
});
