/**
 * Runs one IaC tool process (tofu, terraform, a CDKTF synth child) with the guarantees an activity needs:
 * line-by-line output, heartbeats while it runs, cancellation as SIGINT-then-SIGKILL, and no orphans.
 *
 * Each child is started as its own process group (detached) so that (a) a Ctrl-C aimed at the worker does
 * not hit the tool behind our back, and (b) after the tool exits we can SIGKILL the whole group: provider
 * plugins and local-exec shells that outlived tofu are still in that group even once re-parented to init.
 *
 * Its output goes to unlinked temp files that we tail, not to pipes: if the worker is SIGKILLed, a pipe
 * breaks and the tool dies of SIGPIPE at its next line, mid-apply and without saving the state of what it
 * already created (a retry would then create it twice). Writing to a file, it finishes and leaves its state
 * in the workspace, where the retried attempt waits for it (waitForLeftTool) and recovers that state. The same
 * holds when the worker shuts down gracefully: a tool it detached from (detachOnAbort) runs on the same way.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { traceTool } from '../../shared/telemetry';

export interface RunToolOptions {
  bin: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborting interrupts the tool: SIGINT, then SIGKILL to its whole group after `graceMs` (see detachOnAbort). */
  signal?: AbortSignal;
  /**
   * Asked when `signal` aborts. True leaves the tool running instead (in its own group, out of reach of the
   * worker's exit hook) and resolves at once with `detached`: the cancellation was the worker's own (shutdown),
   * not the run's, and the next attempt takes the tool over through `pidFile`.
   */
  detachOnAbort?: () => boolean;
  /**
   * Leave the tool to itself if the worker process exits (no SIGKILL from the exit hook): for a tool under a
   * watchdog that finishes it alone (apply-watchdog.ts); killing an apply mid-way would lose its state.
   */
  outlivesWorker?: boolean;
  graceMs?: number;
  /** Called on start (with the pid) and every `heartbeatMs` while the tool runs. */
  heartbeat?: (info: { pid: number; elapsedMs: number }) => void;
  heartbeatMs?: number;
  /** Kills the tool (like an abort) when it runs longer than this; `timedOut` is then set. */
  timeoutMs?: number;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Holds the tool's pid while it runs: a later attempt finds a tool that outlived its killed worker. */
  pidFile?: string;
  /**
   * Names the invocation's span (src/shared/telemetry.ts traceTool); default: the binary's name and no subcommand.
   * Only these names are recorded, never the arguments, which can hold variable values and secrets.
   */
  trace?: { tool: string; subcommand: string };
}

export interface RunToolResult {
  code: number | null;
  /** The signal that ended the tool, if any. */
  exitSignal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  pid: number;
  /** The run was aborted (or timed out) and the tool was asked to stop. */
  interrupted: boolean;
  /** The tool was left running (detachOnAbort); `code` is null and the output is what it wrote so far. */
  detached: boolean;
  /** The grace period ran out and the group got SIGKILL. */
  forceKilled: boolean;
  timedOut: boolean;
  durationMs: number;
}

const DEFAULT_GRACE_MS = 10_000;
const DEFAULT_HEARTBEAT_MS = 5_000;

/**
 * Process groups of tools still running; killed if the worker exits so none outlive it. Not listed: applies
 * under a watchdog (outlivesWorker) and tools the worker detached from, which must finish on their own.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already empty.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; process.kill is. A SIGKILLed worker cannot clean up: that is
  // what heartbeat timeouts and the stack lock's dead-holder release are for.
  process.on('exit', killAllTools);
}

/** SIGKILLs every tool process group still running (for worker shutdown paths). */
export function killAllTools(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  liveGroups.clear();
}

/** Pids of tool process groups currently running (diagnostics and tests). */
export function liveToolGroups(): number[] {
  return [...liveGroups];
}

function lineSplitter(onLine?: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      if (!onLine) return;
      rest += chunk.toString('utf8');
      let i: number;
      while ((i = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, i).replace(/\r$/, '');
        rest = rest.slice(i + 1);
        if (line) onLine(line);
      }
    },
    end() {
      if (onLine && rest) onLine(rest);
      rest = '';
    },
  };
}

/** An unlinked temp file the tool writes to (see the module comment), read from where we left off. */
function captureFile(): { fd: number; drain(onChunk: (c: Buffer) => void): void; close(): void } {
  const file = path.join(os.tmpdir(), `strata-tool-${randomUUID()}.out`);
  const fd = fs.openSync(file, 'w+', 0o600);
  fs.unlinkSync(file);
  const buf = Buffer.allocUnsafe(64 * 1024);
  let pos = 0;
  return {
    fd,
    drain(onChunk) {
      // Positioned reads leave the offset the tool writes at (shared with its copy of the fd) alone.
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) return;
        pos += n;
        onChunk(Buffer.from(buf.subarray(0, n)));
      }
    },
    close: () => fs.closeSync(fd),
  };
}

/** Whether `pid` is a live process working in `cwd` (where /proc is missing: whether it is alive at all). */
function runsIn(pid: number, cwd: string): boolean {
  if (fs.existsSync('/proc/self')) {
    try {
      return fs.readlinkSync(`/proc/${pid}/cwd`) === fs.realpathSync(cwd);
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits for a tool recorded in `pidFile` that outlived a SIGKILLed worker and still works in `cwd` (an apply
 * finishing on its own), then reaps what it left in its group (provider plugins). Returns its pid, if any.
 */
export async function waitForLeftTool(
  pidFile: string,
  cwd: string,
  opts: Pick<RunToolOptions, 'heartbeat' | 'signal' | 'detachOnAbort'> = {},
): Promise<{ pid?: number; detached: boolean }> {
  const pid = readPid(pidFile);
  if (pid === undefined) return { detached: false };
  const started = Date.now();
  let interrupted = false;
  while (runsIn(pid, cwd)) {
    // The worker stopping: the tool is still not ours to stop; the next attempt waits for it in turn.
    if (opts.signal?.aborted && !interrupted && opts.detachOnAbort?.()) return { pid, detached: true };
    if (opts.signal?.aborted && !interrupted) {
      // A cancelled run stops it the way a live attempt would: SIGINT to the tool, which saves the state it has.
      interrupted = true;
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // exited meanwhile
      }
    }
    opts.heartbeat?.({ pid, elapsedMs: Date.now() - started });
    await new Promise((r) => setTimeout(r, 500));
  }
  // With the leader gone its pid names no process, so a group still by that id is the tool's own leftovers.
  if (fs.existsSync('/proc/self') && !fs.existsSync(`/proc/${pid}`)) killGroup(pid, 'SIGKILL');
  if (readPid(pidFile) === pid) fs.rmSync(pidFile, { force: true });
  return { pid, detached: false };
}

/** The pid recorded in a pid file, if it holds a plausible one. */
function readPid(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** Spawns the tool and resolves when it (and its process group) is gone; never rejects for exit codes. Traced. */
export function runTool(opts: RunToolOptions): Promise<RunToolResult> {
  return traceTool(
    opts.trace?.tool ?? path.basename(opts.bin),
    opts.trace?.subcommand ?? '',
    () => spawnTool(opts),
    (r) => ({ exitCode: r.code, signal: r.exitSignal, interrupted: r.interrupted, detached: r.detached }),
  );
}

function spawnTool(opts: RunToolOptions): Promise<RunToolResult> {
  installExitHook();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const stdout = captureFile();
    const stderr = captureFile();
    const closeFiles = () => {
      stdout.close();
      stderr.close();
    };
    const child = spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', stdout.fd, stderr.fd],
    });
    const pid = child.pid;
    if (pid === undefined) {
      // Spawn failed (ENOENT, EACCES): the 'error' event carries the reason.
      closeFiles();
      child.once('error', reject);
      return;
    }
    if (!opts.outlivesWorker) liveGroups.add(pid);
    if (opts.pidFile) fs.writeFileSync(opts.pidFile, String(pid));

    const out: Buffer[] = [];
    let err = '';
    const outLines = lineSplitter(opts.onStdoutLine);
    const errLines = lineSplitter(opts.onStderrLine);
    const pump = () => {
      stdout.drain((c) => {
        out.push(c);
        outLines.push(c);
      });
      stderr.drain((c) => {
        // stderr is for diagnostics; cap it so a chatty tool cannot exhaust memory.
        if (err.length < 1_000_000) err += c.toString('utf8');
        errLines.push(c);
      });
    };
    const pumpTimer = setInterval(pump, 100);

    let interrupted = false;
    let forceKilled = false;
    let timedOut = false;
    let detached = false;
    let killTimer: NodeJS.Timeout | undefined;
    const result = (code: number | null, exitSignal: NodeJS.Signals | null): RunToolResult => ({
      code,
      exitSignal,
      stdout: Buffer.concat(out),
      stderr: err,
      pid,
      interrupted,
      detached,
      forceKilled,
      timedOut,
      durationMs: Date.now() - started,
    });
    const detach = () => {
      detached = true;
      clearInterval(beatTimer);
      clearInterval(pumpTimer);
      if (timeout) clearTimeout(timeout);
      // Not ours to kill any more: neither the exit hook nor a later abort may touch it.
      liveGroups.delete(pid);
      pump();
      closeFiles();
      outLines.end();
      errLines.end();
      // The worker process may now exit while the tool runs on.
      child.unref();
      resolve(result(null, null));
    };
    const interrupt = () => {
      if (interrupted) return;
      interrupted = true;
      // SIGINT to the tool only: tofu then stops providers itself and writes the state it has. Signalling
      // the group would hit provider plugins too, which is not how tofu expects to be stopped.
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // Already exited.
      }
      killTimer = setTimeout(() => {
        forceKilled = true;
        killGroup(pid, 'SIGKILL');
      }, opts.graceMs ?? DEFAULT_GRACE_MS);
    };
    const onAbort = () => (opts.detachOnAbort?.() ? detach() : interrupt());
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timeout =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            interrupt();
          }, opts.timeoutMs)
        : undefined;

    const beat = () => opts.heartbeat?.({ pid, elapsedMs: Date.now() - started });
    beat();
    const beatTimer = setInterval(beat, opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    // After the timers exist: a detach clears them.
    if (opts.signal?.aborted) onAbort();

    child.once('error', (e) => {
      // An error after spawn (e.g. kill failures) is not fatal; 'close' still follows.
      err += `\n${e.message}`;
    });
    // Reap anything the tool left behind in its group (plugins, provisioner shells) as soon as the tool
    // itself is gone.
    child.once('exit', () => killGroup(pid, 'SIGKILL'));
    child.once('close', (code, exitSignal) => {
      killGroup(pid, 'SIGKILL');
      // A later attempt may already have put its own tool's pid there.
      if (opts.pidFile && readPid(opts.pidFile) === pid) fs.rmSync(opts.pidFile, { force: true });
      if (detached) return; // already resolved, files closed
      clearInterval(beatTimer);
      clearInterval(pumpTimer);
      if (killTimer) clearTimeout(killTimer);
      if (timeout) clearTimeout(timeout);
      opts.signal?.removeEventListener('abort', onAbort);
      liveGroups.delete(pid);
      pump();
      closeFiles();
      outLines.end();
      errLines.end();
      resolve(result(code, exitSignal));
    });
  });
}
