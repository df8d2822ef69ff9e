/**
 * The watchdog beside an apply (a child process of the worker, leading the tool's process group; never imported
 * by the worker). It runs the tool, renews the apply lease while the tool runs and stops the tool (SIGINT, then
 * SIGKILL) when it cannot: the lease lost to someone else, the store unreachable or silent for half the TTL, the run
 * cancelled elsewhere (the lease's `interrupt`). If the worker that started it is gone when the tool exits (it
 * was SIGKILLed, or detached on shutdown), the watchdog stores the state the tool left and releases the lease
 * itself, so the next attempt, on any machine, takes that state over instead of applying the plan again.
 *
 * argv: <request.json> (WatchdogRequest). Its stdout and stderr are the tool's; its own notes go to `logFile`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type * as OpenStateStore from '../../store/open-state-store';
import type { ExpectedState, StateStoreConnection } from '../../store/state-store';
import type * as ApplyLease from '../apply-lease';
import type * as StateSync from './state-sync';

/** What the executor hands the watchdog (no secrets: credentials come from the inherited environment). */
export interface WatchdogRequest {
  bin: string;
  args: string[];
  stack: string;
  environment: string;
  runId: string;
  /** The lease token the attempt took; the watchdog renews exactly that lease. */
  token: string;
  ttlMs: number;
  /** SIGINT to SIGKILL, when the watchdog itself stops the tool. */
  graceMs: number;
  /** Longest the tool may run (the apply activity's own timeout); then it is stopped. */
  maxMs: number;
  store: StateStoreConnection;
  /** The state the apply started from: what the final write compares against. */
  from: ExpectedState;
  /** The worker; when it is no longer our parent, it is gone. */
  parentPid: number;
  /** Exists once the worker detached (shutdown): the watchdog is on its own then too. */
  detachedFile: string;
  logFile: string;
}

async function main(): Promise<void> {
  const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as WatchdogRequest;
  const note = (message: string) =>
    fs.appendFileSync(req.logFile, `${new Date().toISOString()} [watchdog ${process.pid}] ${message}\n`);
  const orphaned = () => process.ppid !== req.parentPid || fs.existsSync(req.detachedFile);

  // The tool starts first, the store code loads beside it: the apply waits for no module loading (a store's SDK
  // takes longer to load than a small apply takes to run). The lease was renewed by the worker just before, so
  // the first renewal has most of a TTL to come.
  const spawnedAt = Date.now();
  const tool = spawn(req.bin, req.args, { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    tool.once('exit', (c, s) => resolve([c, s])),
  );
  /** When the tool gets SIGKILL, once it is being stopped; a later reason with a nearer deadline brings it forward. */
  let killAt: number | undefined;
  let killer: NodeJS.Timeout | undefined;
  const stop = (why: string, killAfterMs = req.graceMs) => {
    const at = Date.now() + killAfterMs;
    if (killAt !== undefined && at >= killAt) return;
    if (killAt === undefined) {
      note(`stopping the tool: ${why}`);
      tool.kill('SIGINT');
    } else note(`killing the tool sooner: ${why}`);
    killAt = at;
    clearTimeout(killer);
    killer = setTimeout(() => tool.kill('SIGKILL'), killAfterMs);
    killer.unref();
  };
  // The worker interrupts an apply (a cancelled run) by signalling us: pass it on the way tofu expects it. The
  // worker kills the whole group itself when its grace period runs out (and reports that it did); this later kill
  // is only for a worker that is gone by then.
  process.on('SIGINT', () => stop('interrupted by the worker', 2 * req.graceMs + 5000));
  process.on('SIGTERM', () => stop('terminated'));
  setTimeout(() => stop(`still running after ${req.maxMs} ms`), req.maxMs).unref();

  // Loaded now, not imported at the top: see above. Plain requires: this file runs as CommonJS (tsx or a bundle).
  let loaded;
  try {
    /* eslint-disable @typescript-eslint/no-require-imports -- loaded once the tool runs, see above */
    loaded = [
      require('../../store/open-state-store') as typeof OpenStateStore,
      require('../apply-lease') as typeof ApplyLease,
      require('./state-sync') as typeof StateSync,
    ] as const;
    /* eslint-enable @typescript-eslint/no-require-imports */
  } catch (err) {
    // Without the store nobody can renew the lease or store what the tool leaves: the tool must not go on.
    stop(`cannot load the state store: ${String(err)}`);
    const [code] = await exited;
    process.exit(code ?? 70);
  }
  const [{ openStateStore }, { release, renewal, renewEveryMs }, { storeToolState }] = loaded;
  const store = openStateStore(req.store);
  let lastRenewed = spawnedAt;
  const renew = async () => {
    try {
      const lease = await store.updateApplyLease(req.stack, req.environment, renewal(req.token));
      if (lease?.token !== req.token || lease.released)
        return stop(`lost the apply lease to ${lease?.holder ?? 'no one'}`);
      lastRenewed = Date.now();
      if (lease.interrupt) stop('the run was cancelled');
    } catch (err) {
      // Half the TTL without a renewal: before anyone may take the lease over, the tool must be stopping.
      if (Date.now() - lastRenewed > req.ttlMs / 2)
        stop(`cannot renew the apply lease: ${String(err)}`, Math.min(req.graceMs, req.ttlMs / 4));
    }
  };
  const renewer = setInterval(() => void renew(), renewEveryMs(req.ttlMs));
  void renew();
  // The fence keeps time on its own, not only when a renewal fails: a renewal that never ends (a store or a
  // connection that hangs) must stop the tool too. Half the TTL without a renewal stops it, and it is killed a
  // quarter TTL later at the latest, so it is gone before a waiter (who waits a whole TTL of standing still on
  // its own clock) may take the lease over.
  const fence = setInterval(
    () => {
      const since = Date.now() - lastRenewed;
      if (since > req.ttlMs / 2)
        stop(`the apply lease was not renewed for ${since} ms`, Math.min(req.graceMs, req.ttlMs / 4));
    },
    Math.max(50, Math.floor(req.ttlMs / 20)),
  );

  const [code, signal] = await exited;
  clearInterval(fence);
  note(`tool exited (${code ?? signal})`);
  if (orphaned()) {
    // No worker to take over what the tool left: store its state, then let go of the lease, in that order.
    try {
      const serial = await storeToolState(
        process.cwd(),
        {
          state: store,
          stack: req.stack,
          environment: req.environment,
          runId: req.runId,
          log: (e) => note(e.message),
        },
        req.from,
      );
      clearInterval(renewer);
      await store.updateApplyLease(req.stack, req.environment, release(req.token, 'state-stored', serial));
      note(`stored the state the tool left (serial ${serial ?? 'unchanged'}) and released the lease`);
    } catch (err) {
      // The state stays in this workspace; the lease runs out and the next attempt is told what is unknown.
      note(`could not store the state the tool left: ${String(err)}`);
    }
  }
  clearInterval(renewer);
  process.exit(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
}

main().catch((err: unknown) => {
  process.stderr.write(`apply watchdog: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(70);
});
