/**
 * Child processes the chaos suite starts, kills and restarts: each leads its own process group (so a kill
 * reaches the whole tree, tools included) and logs to a file (no pipes that could keep jest alive). Every
 * group ever started is remembered, so teardown can kill whatever is left.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const groups = new Set<number>();

/** One started process (group leader). */
export interface Proc {
  name: string;
  pid: number;
  log: string;
  /** Byte offset of the log when this process started (the log file is shared by its restarts). */
  logStart: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isAlive(): boolean;
  /** What this process wrote to its log so far. */
  output(): string;
}

export function startProc(
  name: string,
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): Proc {
  const logStart = fs.existsSync(opts.log) ? fs.statSync(opts.log).size : 0;
  const fd = fs.openSync(opts.log, 'a');
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.unref();
  const pid = child.pid!;
  groups.add(pid);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  return {
    name,
    pid,
    log: opts.log,
    logStart,
    exited,
    isAlive: () => !done,
    output: () => {
      try {
        const buf = fs.readFileSync(opts.log);
        return buf.subarray(logStart).toString('utf8');
      } catch {
        return '';
      }
    },
  };
}

/** Signals the whole group of `p`; false when it is already gone. */
export function signalGroup(p: Proc | number, signal: NodeJS.Signals): boolean {
  const pid = typeof p === 'number' ? p : p.pid;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** True while any process of the group lives (the leader may be gone while a tool it started is not). */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every group this module ever started: teardown, whatever state the trials left. */
export function killAllStarted(): void {
  for (const pid of groups) signalGroup(pid, 'SIGKILL');
}

/** The tail of a log, for failure messages. */
export function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Free loopback ports below the kernel's ephemeral range (as in test/e2e/npm-start.test.ts): no client's source
 * port and no bind(0) ever lands there, so a port stays ours while the server on it is down between a kill and
 * its restart.
 */
export async function freePorts(n: number): Promise<number[]> {
  const [ephemeralLow] = fs
    .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const min = 10_000;
  const max = ephemeralLow > min + 1000 ? ephemeralLow : 65_535;
  const taken = new Set<number>();
  while (taken.size < n) {
    const p = min + Math.floor(Math.random() * (max - min));
    if (!taken.has(p) && (await canListen(p))) taken.add(p);
  }
  return [...taken];
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Resolves after `ms`: for the random delays the trials inject (the chaos itself), never to wait for a state. */
export const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
