/**
 * Where the pinned tool binaries live. scripts/get-tools.sh builds them from package registries into the
 * user cache (outside the work tree, so every clone on a machine shares them) and writes tools.env there.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ToolPaths {
  TEMPORAL_CLI?: string;
  TOFU_BIN_RESOLVED?: string;
  TF_CLI_CONFIG_FILE?: string;
  MOTO_SERVER?: string;
  /** Open Policy Agent, for the Rego policies every plan is evaluated against. */
  OPA_BIN?: string;
  /** Time-skipping test server (workflow unit tests only). */
  TEMPORAL_TEST_SERVER?: string;
}

const TOOL_KEYS: (keyof ToolPaths)[] = [
  'TEMPORAL_CLI',
  'TOFU_BIN_RESOLVED',
  'TF_CLI_CONFIG_FILE',
  'MOTO_SERVER',
  'OPA_BIN',
  'TEMPORAL_TEST_SERVER',
];

/**
 * The directory holding Strata's package.json: two levels up from src/shared when running from source, three from
 * dist/src/shared in the compiled build (the container image), where the shipped policy bundle, scripts/ and
 * the default data directory are beside package.json, not inside dist/.
 */
export const projectRoot = findProjectRoot(__dirname);

function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..', '..');
  }
}

export function cacheDir(): string {
  return (
    process.env.STRATA_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'strata')
  );
}

function parseEnvFile(text: string): ToolPaths {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Reads tools.env without building anything; the process environment wins key by key. */
export function readTools(): ToolPaths {
  const file = path.join(cacheDir(), 'tools.env');
  const fromFile = fs.existsSync(file) ? parseEnvFile(fs.readFileSync(file, 'utf8')) : {};
  const out: ToolPaths = {};
  // An environment value naming a file that does not exist (a stale TF_CLI_CONFIG_FILE=~/.terraformrc, say)
  // would send OpenTofu to the network; the cache's value wins then.
  for (const k of TOOL_KEYS)
    out[k] = process.env[k] && fs.existsSync(process.env[k]!) ? process.env[k] : fromFile[k] || process.env[k];
  return out;
}

/** Runs scripts/get-tools.sh (idempotent, fast once cached) unless every tool is already known. */
export function resolveTools(): ToolPaths {
  const known = readTools();
  if (TOOL_KEYS.every((k) => known[k])) return known;
  execFileSync('bash', [path.join(projectRoot, 'scripts', 'get-tools.sh')], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return readTools();
}

/** A tools build in progress on this machine, as scripts/get-tools.sh describes it in <cache>/tools-build.json. */
export interface ToolsBuild {
  pid: number;
  /** Epoch ms the build began, and the current step began. */
  startedAt: number;
  stepStartedAt: number;
  /** 1-based step and the number of steps. */
  step: number;
  steps: number;
  /** Key of the tool being obtained now (temporal, opa, tofu, providers, moto, test-server) and its label. */
  tool: string;
  label: string;
  /** Every step's label by key, e.g. `tofu` → `OpenTofu v1.12.6`. */
  labels: Record<string, string>;
}

/** The status file get-tools.sh keeps while it runs. */
export function toolsBuildFile(): string {
  return path.join(cacheDir(), 'tools-build.json');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** No step takes this long (the slowest, a from-scratch Go build on 2 cores, takes minutes), as in get-*.sh. */
const STALE_STEP_MS = 2 * 60 * 60 * 1000;

/**
 * The build running now, if any. A status file left by a killed build is no build: its pid is gone, or (the pid
 * reused by another process since) its step began longer ago than any step takes.
 */
export function toolsBuild(): ToolsBuild | undefined {
  let b: ToolsBuild;
  try {
    b = JSON.parse(fs.readFileSync(toolsBuildFile(), 'utf8')) as ToolsBuild;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(b.pid) || b.pid <= 1 || !alive(b.pid)) return undefined;
  return Date.now() - (b.stepStartedAt ?? 0) < STALE_STEP_MS ? b : undefined;
}

/** `opa` while tools.env names no OPA binary that exists (a fresh machine still building it), else undefined. */
export function missingOpa(): 'opa' | undefined {
  const bin = readTools().OPA_BIN;
  return bin && fs.existsSync(bin) ? undefined : 'opa';
}

/** How a caller waits for a tool (see awaitToolBuild). */
export interface AwaitToolOptions {
  /** The key (get-tools.sh's step) of the tool still missing, or undefined once everything needed is there. */
  missing: () => string | undefined;
  /** Fallback label when the build does not name the tool, e.g. `OpenTofu`. */
  describe: (tool: string) => string;
  /** Aborting stops the wait with the signal's reason (an activity's cancellation). */
  signal?: AbortSignal;
  /** Told once when the wait begins, when the build moves on to the awaited tool, and when it is over. */
  onEvent: (message: string) => void;
  /** Called at every check while waiting (an activity heartbeats here, which is also how it learns of a cancel). */
  onTick?: (details: { waitingFor: string; waitedMs: number }) => void;
  pollMs?: number;
}

const secondsSince = (ms: number) => `${Math.max(0, Math.round((Date.now() - ms) / 1000))} s`;

function waitingMessage(tool: string, b: ToolsBuild, describe: (t: string) => string): string {
  const label = b.labels?.[tool] ?? describe(tool);
  if (b.tool === tool)
    return `waiting for ${label} to finish building on this worker (started ${secondsSince(b.stepStartedAt)} ago)`;
  return `waiting for ${label} to be built on this worker: the tools build started ${secondsSince(b.startedAt)} ago and is at step ${b.step}/${b.steps} (${b.label})`;
}

/**
 * Waits while a tool a run needs is still being built on this machine (`npm start` builds OpenTofu, its providers
 * and OPA in the background), noticing it appear in tools.env without a restart. Returns at once when nothing is
 * missing, and when nothing is being built (the caller then fails as it would have: waiting would never end).
 */
export async function awaitToolBuild(opts: AwaitToolOptions): Promise<void> {
  let tool = opts.missing();
  if (!tool) return;
  let build = toolsBuild();
  if (!build) return;
  const labelOf = (t: string) => build!.labels?.[t] ?? opts.describe(t);
  const started = Date.now();
  const pollMs = opts.pollMs ?? 1000;
  const waitedFor = new Set([tool]);
  opts.onEvent(waitingMessage(tool, build, opts.describe));
  let announcedStep = build.tool === tool ? build.step : undefined;
  for (;;) {
    opts.onTick?.({ waitingFor: labelOf(tool), waitedMs: Date.now() - started });
    await new Promise<void>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(opts.signal.reason ?? new Error('cancelled'));
      const onAbort = () => {
        clearTimeout(timer);
        reject(opts.signal!.reason ?? new Error('cancelled'));
      };
      const timer = setTimeout(() => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, pollMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    // tools.env gains a tool before the build moves on or ends, so a finished tool is seen here first.
    const now = opts.missing();
    if (!now) {
      opts.onEvent(
        `${[...waitedFor].map(labelOf).join(' and ')} ready after waiting ${secondsSince(started)}; going on`,
      );
      return;
    }
    tool = now;
    waitedFor.add(tool);
    const current = toolsBuild();
    if (!current) {
      opts.onEvent(`the tools build ended without ${labelOf(tool)} (see the tools log)`);
      return;
    }
    build = current;
    if (build.tool === tool && announcedStep !== build.step) {
      announcedStep = build.step;
      opts.onEvent(waitingMessage(tool, build, opts.describe));
    }
  }
}
