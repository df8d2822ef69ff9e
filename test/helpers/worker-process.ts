/**
 * Strata workers as real processes (`node --import tsx src/worker/main.ts`, each in its own process group,
 * as `npm start` runs them), for tests that stop or kill a worker mid-apply. Each worker gets its own strata.yaml, so two of
 * them can act as two machines (separate workDir and artifactsDir) over shared stores.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { StrataConfig } from '../../src/shared/config';

const ROOT = path.resolve(__dirname, '..', '..');

/** One worker process. */
export interface WorkerProcess {
  name: string;
  /** Leader of the worker's process group. */
  pid: number;
  config: StrataConfig;
  logFile: string;
  /** Signals the worker's process group (only the worker: the tools it starts lead groups of their own). */
  signal(sig: NodeJS.Signals): void;
  alive(): boolean;
  /** The last lines of its log, for failure messages. */
  tail(lines?: number): string;
}

/** Starts workers and kills whatever is left of them at the end. */
export interface WorkerProcesses {
  start(name: string, config: StrataConfig, env?: NodeJS.ProcessEnv): WorkerProcess;
  all: WorkerProcess[];
  logs(): string;
  killAll(): void;
}

/** Starts worker processes against `temporalAddress`; logs and config files go under `dir`. */
export function workerProcesses(dir: () => string, temporalAddress: () => string): WorkerProcesses {
  const all: WorkerProcess[] = [];
  return {
    all,
    start(name, config, env = {}) {
      const configFile = path.join(dir(), `strata-${name}.yaml`);
      const { baseDir: _baseDir, configPath: _configPath, ...raw } = config;
      fs.writeFileSync(configFile, YAML.stringify(raw));
      const logFile = path.join(dir(), `worker-${name}.log`);
      const log = fs.openSync(logFile, 'a');
      // One node process with tsx's loader, not the tsx CLI: on SIGTERM that CLI SIGKILLs its child unless the
      // child acknowledges the signal within 30 ms, which a busy worker on two cores often does not, and a
      // graceful shutdown would silently become a crash.
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          // Logs as a real worker writes them (jest's markers would silence them), for the failure messages.
          NODE_ENV: 'production',
          JEST_WORKER_ID: '',
          TEMPORAL_ADDRESS: temporalAddress(),
          TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
          STRATA_CONFIG: configFile,
          ...env,
        },
      });
      fs.closeSync(log);
      child.unref();
      const pid = child.pid!;
      const w: WorkerProcess = {
        name,
        pid,
        config,
        logFile,
        signal(sig) {
          try {
            process.kill(-pid, sig);
          } catch {
            // already gone
          }
        },
        alive() {
          try {
            process.kill(-pid, 0);
            return true;
          } catch {
            return false;
          }
        },
        tail(lines = 25) {
          return fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n') : '';
        },
      };
      all.push(w);
      return w;
    },
    logs: () => all.map((w) => `--- worker ${w.name}\n${w.tail()}`).join('\n'),
    killAll: () => all.forEach((w) => w.signal('SIGKILL')),
  };
}

/** Tool processes (tofu, its provider plugins, a watchdog) whose working directory is below `dir`. */
export function processesBelow(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) {
        found.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`);
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** The parent pid of `pid`, or undefined when it is gone. */
function parentOf(pid: string): string | undefined {
  try {
    return /^PPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The tool runs (`pid cmdline`) below `dir` whose command line matches `re`, without their own children: a Go
 * tool that starts a provider plugin forks a child that carries the tool's command line until it executes the
 * plugin, so a sample taken in that instant sees one run as two.
 */
export function toolRunsBelow(dir: string, re: RegExp): string[] {
  const matching = processesBelow(dir).filter((p) => re.test(p));
  const pids = new Set(matching.map((p) => p.split(' ')[0]));
  return matching.filter((p) => !pids.has(parentOf(p.split(' ')[0]) ?? ''));
}
