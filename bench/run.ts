/**
 * `npm run bench`: measures Strata end to end on this machine and prints a markdown table.
 * Real Temporal dev server (private, free port), real worker, real API over HTTP on loopback, real OpenTofu.
 * Numbers belong here, never in tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createApp } from '../src/api/app';
import { resolveTools } from '../src/shared/tools';
import { startTemporal, startWorker, testConfig } from '../test/helpers/temporal';

type Row = { what: string; n: number; p50: string; p95: string; extra?: string };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);

async function request(
  base: string,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: 'Bearer alice-deployer-dev-token', 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

async function waitDone(base: string, id: string): Promise<string> {
  for (;;) {
    const { json } = await request(base, 'GET', `/api/v1/deployments/${id}`);
    if (
      ['succeeded', 'no_changes', 'planned', 'failed', 'rolled_back', 'rejected', 'expired', 'cancelled'].includes(
        json.status,
      )
    )
      return json.status;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function timeIt(n: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

async function main(): Promise<void> {
  process.env.LOG_LEVEL ??= 'silent';
  const tools = resolveTools();
  for (const [k, v] of Object.entries(tools)) if (v) process.env[k] = v;
  const envs: Record<string, unknown> = { dev: { approvals: { required: 0 } } };
  for (let i = 0; i < 8; i++) envs[`p${i}`] = { approvals: { required: 0 } };
  const config = testConfig({ environments: envs });
  // The benchmark sends bursts of changes from one caller: measure the orchestration, not the per-caller limit.
  config.auth.rateLimitPerMinute = 0;
  const rows: Row[] = [];

  const env = await startTemporal();
  const worker = await startWorker(env, config);
  const server = http.createServer(createApp({ temporal: { client: env.client }, config }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  try {
    // Warm up the bundle, the connection and the executors.
    await waitDone(
      base,
      (await request(base, 'POST', '/api/v1/deployments', { stack: 'sim-multicloud', environment: 'dev' })).json.id,
    );

    const health = await timeIt(300, async () => void (await request(base, 'GET', '/health')));
    rows.push({ what: 'GET /health', n: 300, p50: ms(pct(health, 50)), p95: ms(pct(health, 95)) });
    const stacks = await timeIt(100, async () => void (await request(base, 'GET', '/api/v1/stacks')));
    rows.push({
      what: 'GET /api/v1/stacks (state store + lock queries)',
      n: 100,
      p50: ms(pct(stacks, 50)),
      p95: ms(pct(stacks, 95)),
    });

    let last = '';
    const start = await timeIt(50, async (i) => {
      last = (
        await request(base, 'POST', '/api/v1/deployments', {
          stack: 'sim-multicloud',
          environment: 'dev',
          dryRun: true,
          variables: { instance_count: 1 + (i % 5) },
        })
      ).json.id;
    });
    rows.push({
      what: 'POST /api/v1/deployments (202, workflow started)',
      n: 50,
      p50: ms(pct(start, 50)),
      p95: ms(pct(start, 95)),
    });
    await waitDone(base, last);
    const get = await timeIt(100, async () => void (await request(base, 'GET', `/api/v1/deployments/${last}`)));
    rows.push({
      what: 'GET /api/v1/deployments/:id (closed run)',
      n: 100,
      p50: ms(pct(get, 50)),
      p95: ms(pct(get, 95)),
    });

    const simE2E = await timeIt(20, async (i) => {
      const id = (
        await request(base, 'POST', '/api/v1/deployments', {
          stack: 'sim-multicloud',
          environment: 'dev',
          variables: { instance_count: 2 + (i % 2) * 3 },
        })
      ).json.id;
      await waitDone(base, id);
    });
    rows.push({
      what: 'sim-multicloud deploy end to end (lock, plan, apply, verify, version)',
      n: 20,
      p50: ms(pct(simE2E, 50)),
      p95: ms(pct(simE2E, 95)),
    });

    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from(
        { length: 8 },
        async (_, i) =>
          (
            await request(base, 'POST', '/api/v1/deployments', {
              stack: 'sim-multicloud',
              environment: `p${i}`,
              variables: { instance_count: 10 },
            })
          ).json.id as string,
      ),
    );
    await Promise.all(ids.map((id) => waitDone(base, id)));
    const par = performance.now() - t0;
    rows.push({
      what: '8 deploys to 8 environments at once (10 instances each)',
      n: 8,
      p50: ms(par),
      p95: ms(par),
      extra: `${((8 / par) * 1000).toFixed(1)} runs/s`,
    });

    const big = await timeIt(3, async (i) => {
      const id = (
        await request(base, 'POST', '/api/v1/deployments', {
          stack: 'sim-multicloud',
          environment: 'p0',
          variables: { instance_count: i % 2 ? 10 : 200 },
        })
      ).json.id;
      await waitDone(base, id);
    });
    rows.push({ what: 'sim-multicloud scale 10 ↔ 200 instances', n: 3, p50: ms(pct(big, 50)), p95: ms(pct(big, 95)) });

    const tofu = await timeIt(5, async (i) => {
      const id = (
        await request(base, 'POST', '/api/v1/deployments', {
          stack: 'hello-local',
          environment: 'dev',
          variables: { message: `bench ${i}`, file_count: 5 },
        })
      ).json.id;
      const status = await waitDone(base, id);
      if (status !== 'succeeded') throw new Error(`hello-local run ${id} ended ${status}`);
    });
    rows.push({
      what: 'hello-local deploy end to end (real OpenTofu: init, plan, apply, re-plan verify)',
      n: 5,
      p50: ms(pct(tofu, 50)),
      p95: ms(pct(tofu, 95)),
    });

    const rss = process.memoryUsage().rss / 1024 / 1024;
    rows.push({
      what: 'RSS of the bench process (API + worker + client in one)',
      n: 1,
      p50: `${rss.toFixed(0)} MiB`,
      p95: '',
    });
  } finally {
    server.close();
    await worker.stop();
    await env.teardown();
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  console.log(
    `\nStrata benchmark — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`,
  );
  console.log('| what | n | p50 | p95 | |');
  console.log('| --- | ---: | ---: | ---: | --- |');
  for (const r of rows) console.log(`| ${r.what} | ${r.n} | ${r.p50} | ${r.p95} | ${r.extra ?? ''} |`);
  fs.rmSync(path.dirname(config.stateStore.kind === 'filesystem' ? config.stateStore.path : os.tmpdir()), {
    recursive: true,
    force: true,
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
