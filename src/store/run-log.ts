/**
 * Per-run log lines (tool output, per-resource progress), kept beside the run rather than in workflow
 * history, which must stay small. JSON lines on the local disk: the API and workers of one machine share
 * it; a multi-machine setup points `artifactsDir` at shared storage.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LogEntry } from '../contracts/iac';

export interface RunLog {
  append(runId: string, entries: LogEntry[]): void;
  /** Entries from line `from` on, and the line number to ask from next time. */
  read(runId: string, from?: number): { items: LogEntry[]; next: number };
}

const SAFE_ID = /^[A-Za-z0-9._-]+$/;

/** Filesystem run log under `<dir>/runs/<runId>/log.jsonl`. */
export function createFsRunLog(dir: string): RunLog {
  const file = (runId: string) => {
    if (!SAFE_ID.test(runId)) throw new Error(`invalid run id for log: ${runId}`);
    return path.join(dir, 'runs', runId, 'log.jsonl');
  };
  return {
    append(runId, entries) {
      if (entries.length === 0) return;
      const f = file(runId);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.appendFileSync(f, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    },
    read(runId, from = 0) {
      let text: string;
      try {
        text = fs.readFileSync(file(runId), 'utf8');
      } catch {
        return { items: [], next: from };
      }
      const lines = text.split('\n').filter(Boolean);
      const items: LogEntry[] = [];
      for (const line of lines.slice(from)) {
        try {
          items.push(JSON.parse(line) as LogEntry);
        } catch {
          // A line being written right now; it is read whole next time.
          break;
        }
      }
      return { items, next: from + items.length };
    },
  };
}
