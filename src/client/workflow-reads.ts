/**
 * Reading one workflow whether it is running or closed, and turning the client's errors into Strata's codes,
 * so every caller (API routes, the worker) gets the same answer for the same execution.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { QueryDefinition } from '@temporalio/workflow';
import { ErrorCode, StrataError } from '../shared/errors';

/** What a workflow looks like to a reader: its live state, its result, or its last state when it ended abnormally. */
export type ReadOutcome<T> =
  | { kind: 'running'; value: T; description: WorkflowExecutionDescription }
  | { kind: 'completed'; value: T; description: WorkflowExecutionDescription }
  | { kind: 'ended'; value: T | undefined; description: WorkflowExecutionDescription };

/** The read cache's bounds: answers, and their total size as JSON (the oldest read goes first past either). */
const READ_CACHE_ENTRIES = 5000;
const READ_CACHE_CHARS = 64 * 2 ** 20;

/**
 * Query answers by execution and query, each valid while a mark `describe` shows (served by the frontend alone,
 * no worker) stays as it was when the answer was given, so a reader needs no query (which a worker must answer,
 * replaying the workflow when it is no longer cached there):
 * - `revision`: a workflow that publishes its document's revision in its memo (run-recorder.ts) and answers with
 *   it. The memo is written in the same task completion as the change it counts, so an answer of revision N is
 *   exactly what the workflow says while the memo says N, however many events (timers, notifications, workflow
 *   tasks that changed nothing) the history gains meanwhile.
 * - `historyLength`, for every other workflow: its state changes only in a workflow task, every completed task
 *   appends to its history, and a query is answered only once every event already in the history has been
 *   processed. So an answer given when the history had N events holds while the history still has N events.
 * Waiting runs, the most read, are the ones whose marks stay still. Answers are kept as the JSON they arrived as:
 * every hit parses a copy of its own (callers add fields, a queue position), and the size is known.
 */
type ReadMark = { revision: number } | { historyLength: number };
const readCache = new Map<string, { mark: ReadMark; json: string }>();
let readCacheChars = 0;

function forget(key: string): void {
  const old = readCache.get(key);
  if (!old) return;
  readCache.delete(key);
  readCacheChars -= old.json.length;
}

/** The revision a workflow's memo or answer carries, if it tracks one. */
function revisionOf(x: unknown): number | undefined {
  const r = (x as { revision?: unknown } | undefined)?.revision;
  return typeof r === 'number' && Number.isInteger(r) ? r : undefined;
}

function sameMark(a: ReadMark, b: ReadMark): boolean {
  return 'revision' in a
    ? 'revision' in b && a.revision === b.revision
    : 'historyLength' in b && a.historyLength === b.historyLength;
}

/** Drops every cached answer (for measuring first reads). */
export function clearReadCache(): void {
  readCache.clear();
  readCacheChars = 0;
}

async function cachedQuery<T>(
  handle: WorkflowHandle,
  query: QueryDefinition<T>,
  description: WorkflowExecutionDescription,
): Promise<T> {
  const key = `${description.runId}\0${query.name}`;
  const published = revisionOf(description.memo);
  const current: ReadMark =
    published !== undefined ? { revision: published } : { historyLength: description.historyLength };
  const hit = readCache.get(key);
  if (hit && sameMark(hit.mark, current)) {
    // Refreshed as the newest, so the runs being read stay while unread ones leave first.
    readCache.delete(key);
    readCache.set(key, hit);
    return JSON.parse(hit.json) as T;
  }
  const value = await handle.query(query);
  forget(key);
  // A workflow that publishes revisions but answered without one (it could not vouch for it) is not kept.
  const answered = revisionOf(value);
  let mark: ReadMark | undefined;
  if (published === undefined) mark = { historyLength: description.historyLength };
  else if (answered !== undefined) mark = { revision: answered };
  const json = JSON.stringify(value);
  if (mark && json !== undefined && json.length <= READ_CACHE_CHARS) {
    readCache.set(key, { mark, json });
    readCacheChars += json.length;
    while (readCache.size > READ_CACHE_ENTRIES || readCacheChars > READ_CACHE_CHARS)
      forget(readCache.keys().next().value!);
  }
  return value;
}

/**
 * The live state from `query` while the workflow runs, its result once it completed, and — for a terminated,
 * timed-out, failed or cancelled execution — whatever the query still answers (from history) or undefined.
 * Undefined when no such workflow exists.
 */
export async function readWorkflow<T>(
  handle: WorkflowHandle,
  query: QueryDefinition<T>,
): Promise<ReadOutcome<T> | undefined> {
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  const status = description.status.name;
  if (status === 'COMPLETED') return { kind: 'completed', value: (await handle.result()) as T, description };
  if (status === 'RUNNING')
    return { kind: 'running', value: await cachedQuery(handle, query, description), description };
  const value = await handle.query(query).catch(() => undefined);
  return { kind: 'ended', value, description };
}

/** The state of a running workflow, or undefined when it is not running (closed or never started). */
export async function queryIfRunning<T>(handle: WorkflowHandle, query: QueryDefinition<T>): Promise<T | undefined> {
  try {
    const d = await handle.describe();
    return d.status.name === 'RUNNING' ? await handle.query(query) : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Runs an Update and turns a validator's refusal (an ApplicationFailure whose type is a taxonomy code) into a StrataError. */
export async function decide<T>(run: () => Promise<T>, notFoundMessage: string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new StrataError(ErrorCode.NOT_FOUND, notFoundMessage);
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause;
      if (cause instanceof ApplicationFailure && cause.type) {
        // FORBIDDEN stays FORBIDDEN (403); the gate's other refusals are conflicts naming their reason.
        const code = cause.type === ErrorCode.FORBIDDEN ? ErrorCode.FORBIDDEN : ErrorCode.CONFLICT;
        throw new StrataError(code, cause.message, code === ErrorCode.CONFLICT ? { reason: cause.type } : undefined);
      }
      throw new StrataError(ErrorCode.CONFLICT, cause?.message ?? err.message);
    }
    throw err;
  }
}

/** Starts a workflow; false when one with the same id already exists (the idempotent path). */
export async function startOnce(start: () => Promise<unknown>): Promise<boolean> {
  try {
    await start();
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

/** Escapes a value for a visibility query string literal (values are validated by the API before they get here). */
export function quote(v: string): string {
  return `'${v.replace(/['\\]/g, '')}'`;
}
