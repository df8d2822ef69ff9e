/**
 * Turns the tool's machine-readable UI (`apply -json`, one JSON object per line) into run log entries,
 * and keeps track of what an interruption or failure leaves behind.
 */
import type { ExecutorContext, LogEntry } from '../types';

interface JsonUiLine {
  '@level'?: string;
  '@message'?: string;
  '@timestamp'?: string;
  type?: string;
  hook?: { resource?: { addr?: string }; action?: string };
  change?: { resource?: { addr?: string } };
  diagnostic?: { severity?: string; summary?: string; detail?: string; address?: string };
}

/** What the apply stream told us, for the final result or error. */
export interface ApplyTracker {
  /** Resources whose apply started and had not completed or errored when the stream ended. */
  inProgress: Set<string>;
  /** Resources created or updated (deletions are not listed: they are meant to leave the state). */
  completed: string[];
  errors: string[];
  /** The last resource mentioned, for heartbeat details. */
  lastResource?: string;
  /** Handles one stdout line of `apply -json`. */
  onLine(line: string): void;
}

function level(raw: string | undefined): LogEntry['level'] {
  if (raw === 'error' || raw === 'warn' || raw === 'info') return raw;
  return 'debug';
}

function isoTime(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const t = new Date(raw);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

/** A tracker that forwards each line to `ctx.log` with its resource address. */
export function createApplyTracker(ctx: Pick<ExecutorContext, 'log'>): ApplyTracker {
  const tracker: ApplyTracker = {
    inProgress: new Set(),
    completed: [],
    errors: [],
    onLine(line) {
      let msg: JsonUiLine;
      try {
        msg = JSON.parse(line) as JsonUiLine;
      } catch {
        ctx.log({ level: 'info', message: line });
        return;
      }
      const resource = msg.hook?.resource?.addr ?? msg.change?.resource?.addr ?? msg.diagnostic?.address;
      if (resource) tracker.lastResource = resource;
      const deleting = msg.hook?.action === 'delete';
      if (msg.type === 'apply_start' && resource && !deleting) tracker.inProgress.add(resource);
      if ((msg.type === 'apply_complete' || msg.type === 'apply_errored') && resource) {
        tracker.inProgress.delete(resource);
        if (msg.type === 'apply_complete' && !deleting) tracker.completed.push(resource);
      }
      let lvl = level(msg['@level']);
      if (msg.type === 'diagnostic' && msg.diagnostic?.severity === 'error') {
        lvl = 'error';
        const d = msg.diagnostic;
        tracker.errors.push([d.address, d.summary, d.detail].filter(Boolean).join(': '));
      }
      ctx.log({ level: lvl, message: msg['@message'] ?? line, resource, ts: isoTime(msg['@timestamp']) });
    },
  };
  return tracker;
}
