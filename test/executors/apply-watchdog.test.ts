/**
 * The apply watchdog on its own (a real process, as the tofu executor starts it): when it cannot renew the apply
 * lease it must stop the tool before anyone may take the lease over, also when the store never answers at all.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { WatchdogRequest } from '../../src/executors/tofu/apply-watchdog';
import { watchdogEntry } from '../../src/executors/tofu/watchdog-entry';

let tmp: string;
let silent: net.Server;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-watchdog-'));
  // A store endpoint that takes every connection and never answers: a hung S3 endpoint or a dead proxy.
  silent = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A watchdog request whose state store is the silent endpoint. */
function hungStoreRequest(over: Partial<WatchdogRequest>): WatchdogRequest {
  const { port } = silent.address() as net.AddressInfo;
  const req: WatchdogRequest = {
    bin: '/bin/sleep',
    args: ['60'],
    stack: 'hung-store',
    environment: 'dev',
    runId: 'd-hung',
    token: 'lease-token',
    ttlMs: 4000,
    graceMs: 30_000,
    maxMs: 120_000,
    store: {
      kind: 's3',
      bucket: 'state',
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      retainVersions: 5,
    },
    from: 'absent',
    parentPid: process.pid,
    detachedFile: path.join(tmp, 'detached'),
    logFile: path.join(tmp, `watchdog-${Math.random().toString(36).slice(2)}.log`),
    ...over,
  };
  return req;
}

/** Starts the watchdog on `req`; `whenStarted` runs beside it. Resolves with ms to its exit and its notes. */
async function runWatchdog(
  req: WatchdogRequest,
  whenStarted: (pid: number) => Promise<void> = async () => undefined,
): Promise<{ exitedAfterMs: number; notes: string }> {
  const file = path.join(tmp, `request-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(req));
  const started = Date.now();
  const watchdog = spawn(process.execPath, [...watchdogEntry(), file], {
    cwd: tmp,
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    stdio: 'ignore',
  });
  const exited = new Promise<number>((resolve) => {
    const guard = setTimeout(() => {
      watchdog.kill('SIGKILL');
      resolve(Number.POSITIVE_INFINITY);
    }, 20_000);
    watchdog.once('exit', () => {
      clearTimeout(guard);
      resolve(Date.now() - started);
    });
  });
  await whenStarted(watchdog.pid!);
  const exitedAfterMs = await exited;
  const notes = fs.existsSync(req.logFile) ? fs.readFileSync(req.logFile, 'utf8') : '';
  return { exitedAfterMs, notes };
}

test('a store that never answers: the tool is stopped after half the lease TTL, dead before the TTL', async () => {
  const req = hungStoreRequest({});
  const { exitedAfterMs, notes } = await runWatchdog(req);
  // Half the TTL without a renewal stops the tool, whatever the renewals are still waiting for; the kill after
  // it comes well before a waiter may take the lease over (a whole TTL of standing still on its own clock).
  expect({ exitedAfterMs, notes }).toEqual({
    exitedAfterMs: expect.any(Number),
    notes: expect.stringMatching(/stopping the tool: .*apply lease/),
  });
  expect(exitedAfterMs).toBeLessThan(req.ttlMs);
}, 30_000);

test('a tool already being interrupted (its long grace) is killed sooner once the lease goes stale', async () => {
  // A tool that shrugs off SIGINT, as tofu does while it waits for a provider; the worker's interrupt grants it
  // twice the grace (65 s here), which the lease's fence must not wait for.
  const req = hungStoreRequest({
    ttlMs: 6000,
    bin: process.execPath,
    args: ['-e', "process.on('SIGINT', () => undefined); setTimeout(() => undefined, 60_000)"],
  });
  const { exitedAfterMs, notes } = await runWatchdog(req, async (pid) => {
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(pid, 'SIGINT');
  });
  expect({ exitedAfterMs, notes }).toEqual({
    exitedAfterMs: expect.any(Number),
    notes: expect.stringMatching(/stopping the tool: interrupted by the worker[\s\S]*killing the tool sooner/),
  });
  expect(exitedAfterMs).toBeLessThan(req.ttlMs);
}, 30_000);
