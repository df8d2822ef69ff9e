/** Test harness for IaC executors: real filesystem stores in a temp dir and a recording ExecutorContext. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutorContext, LogEntry } from '../../src/executors/types';
import { FsArtifactStore } from '../../src/store/fs-artifact-store';
import { FsStateStore } from '../../src/store/fs-state-store';
import { poll } from './poll';

/** One temp root with the stores every context of a test file shares. */
export interface Harness {
  root: string;
  artifacts: FsArtifactStore;
  state: FsStateStore;
  /** A fresh context; `workDir` defaults to a per-harness dir (pass another to act as a second worker). */
  context(runId: string, opts?: { workDir?: string; stack?: string; environment?: string }): RecordingContext;
  cleanup(): void;
}

/** An ExecutorContext that records logs and heartbeats and owns its AbortController. */
export interface RecordingContext {
  ctx: ExecutorContext;
  logs: LogEntry[];
  beats: Record<string, unknown>[];
  abort: AbortController;
}

/** Creates the harness under os.tmpdir(). */
export function createHarness(prefix: string, stack: string, environment = 'test'): Harness {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `strata-${prefix}-`));
  const artifacts = new FsArtifactStore(path.join(root, 'artifacts'));
  const state = new FsStateStore(path.join(root, 'state'));
  return {
    root,
    artifacts,
    state,
    context(runId, opts = {}) {
      const logs: LogEntry[] = [];
      const beats: Record<string, unknown>[] = [];
      const abort = new AbortController();
      const ctx: ExecutorContext = {
        stack: opts.stack ?? stack,
        environment: opts.environment ?? environment,
        runId,
        workDir: opts.workDir ?? path.join(root, 'work'),
        artifacts,
        state,
        log: (e) => logs.push({ ...e, ts: e.ts ?? new Date().toISOString() }),
        heartbeat: (d) => beats.push((d ?? {}) as Record<string, unknown>),
        signal: abort.signal,
      };
      return { ctx, logs, beats, abort };
    },
    cleanup() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Polls `pred` until it holds or the deadline passes: `poll` with positional options. */
export async function waitFor(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  await poll(pred, { what, timeoutMs, everyMs: 50 });
}

/** Pids of live processes in process group `pgid` (Linux /proc), zombies excluded. */
export function processesInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the parenthesised command name: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(entry));
  }
  return out;
}

/** Whether a pid is alive (and not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
