/**
 * Runs one IaC tool process (tofu, terraform, a CDKTF synth child) with the guarantees an activity needs:
 * line-by-line output, heartbeats while it runs, cancellation as SIGINT-then-SIGKILL, and no orphans.
 *
 * Each child is started as its own process group (detached) so that (a) a Ctrl-C aimed at the worker does
 * not hit the tool behind our back, and (b) after the tool exits we can SIGKILL the whole group: provider
 * plugins and local-exec shells that outlived tofu are still in that group even once re-parented to init.
 */
import { spawn } from 'node:child_process';

export interface RunToolOptions {
  bin: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborting interrupts the tool: SIGINT, then SIGKILL to its whole group after `graceMs`. */
  signal?: AbortSignal;
  graceMs?: number;
  /** Called on start (with the pid) and every `heartbeatMs` while the tool runs. */
  heartbeat?: (info: { pid: number; elapsedMs: number }) => void;
  heartbeatMs?: number;
  /** Kills the tool (like an abort) when it runs longer than this; `timedOut` is then set. */
  timeoutMs?: number;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
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
  /** The grace period ran out and the group got SIGKILL. */
  forceKilled: boolean;
  timedOut: boolean;
  durationMs: number;
}

const DEFAULT_GRACE_MS = 10_000;
const DEFAULT_HEARTBEAT_MS = 5_000;

/** Process groups of tools still running; killed if the worker exits so none outlive it. */
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

/** Spawns the tool and resolves when it (and its process group) is gone; never rejects for exit codes. */
export function runTool(opts: RunToolOptions): Promise<RunToolResult> {
  installExitHook();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid;
    if (pid === undefined) {
      // Spawn failed (ENOENT, EACCES): the 'error' event carries the reason.
      child.once('error', reject);
      return;
    }
    liveGroups.add(pid);

    const out: Buffer[] = [];
    let err = '';
    const outLines = lineSplitter(opts.onStdoutLine);
    const errLines = lineSplitter(opts.onStderrLine);
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      outLines.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      // stderr is for diagnostics; cap it so a chatty tool cannot exhaust memory.
      if (err.length < 1_000_000) err += c.toString('utf8');
      errLines.push(c);
    });

    let interrupted = false;
    let forceKilled = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
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
    if (opts.signal?.aborted) interrupt();
    opts.signal?.addEventListener('abort', interrupt, { once: true });
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

    child.once('error', (e) => {
      // An error after spawn (e.g. kill failures) is not fatal; 'close' still follows.
      err += `\n${e.message}`;
    });
    // Reap anything the tool left behind in its group (plugins, provisioner shells) as soon as the tool
    // itself is gone; a leftover holding our stdout pipe open would otherwise also delay 'close'.
    child.once('exit', () => killGroup(pid, 'SIGKILL'));
    child.once('close', (code, exitSignal) => {
      clearInterval(beatTimer);
      if (killTimer) clearTimeout(killTimer);
      if (timeout) clearTimeout(timeout);
      opts.signal?.removeEventListener('abort', interrupt);
      killGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
      outLines.end();
      errLines.end();
      resolve({
        code,
        exitSignal,
        stdout: Buffer.concat(out),
        stderr: err,
        pid,
        interrupted,
        forceKilled,
        timedOut,
        durationMs: Date.now() - started,
      });
    });
  });
}
