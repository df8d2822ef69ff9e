/**
 * Moving tfstate between the StateStore (the truth, shared by all workers) and a workspace's local
 * backend file (what the tool reads and writes while it runs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode, StrataError } from '../../shared/errors';
import { expectedOf } from '../../store/state-cas';
import type { CurrentState, ExpectedState } from '../../store/state-store';
import type { ExecutorContext } from '../types';
import { parseState, type ParsedState } from './plan-json';
import { STATE_FILE } from './workspace';

/** Written by the tool in its working directory when it could not save state to the backend. */
const ERRORED_STATE_FILE = 'errored.tfstate';

function readLocalState(dir: string): string | undefined {
  for (const name of [ERRORED_STATE_FILE, STATE_FILE]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) {
      const body = fs.readFileSync(file, 'utf8');
      if (body.trim()) return body;
    }
  }
  return undefined;
}

/**
 * Stores the state the tool left, as a compare-and-swap over the state it started from. A lost race means
 * another writer moved the state while this tool ran on it: retrying would only overwrite one of the two, so
 * it is a non-retryable failure that says where the tool's state is kept.
 */
/** What the state functions need of an executor context (the watchdog has no more than this). */
export type StateTarget = Pick<ExecutorContext, 'state' | 'stack' | 'environment' | 'runId' | 'log'>;

async function putState(dir: string, ctx: StateTarget, state: CurrentState, expected: ExpectedState): Promise<void> {
  try {
    await ctx.state.putCurrentState(ctx.stack, ctx.environment, state, expected);
  } catch (err) {
    if (err instanceof StrataError && err.code === ErrorCode.STATE_CONFLICT) {
      throw ApplicationFailure.create({
        type: ErrorCode.STATE_CONFLICT,
        nonRetryable: true,
        message: `${err.message}; the state this run's tool wrote is kept in ${dir}`,
        details: [err.details],
      });
    }
    throw err;
  }
}

function toCurrent(body: string, runId: string): CurrentState {
  const s = parseState(body);
  return { body, serial: s.serial, lineage: s.lineage, updatedBy: runId };
}

/**
 * A workspace state newer than the store's (same lineage, higher serial; or any state when the store has
 * none) was written by a tool whose worker died before it could persist it. Record it, or the resources
 * it lists would be forgotten; a plan made before it then correctly becomes stale. True when it recorded one.
 */
export async function recoverLeftState(dir: string, ctx: ExecutorContext): Promise<boolean> {
  const local = readLocalState(dir);
  if (!local) return false;
  let found: CurrentState;
  try {
    found = toCurrent(local, ctx.runId);
  } catch {
    return false;
  }
  const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
  const newer = current ? found.lineage === current.lineage && found.serial > current.serial : found.lineage !== '';
  if (!newer) return false;
  ctx.log({
    level: 'warn',
    message: `recovered state serial ${found.serial} left in the workspace by an earlier call`,
  });
  await putState(dir, ctx, found, expectedOf(current));
  return true;
}

/** Writes the store's current state as the workspace's local backend state; returns it. */
export async function writeStateIn(dir: string, ctx: ExecutorContext): Promise<CurrentState | undefined> {
  const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
  fs.rmSync(path.join(dir, ERRORED_STATE_FILE), { force: true });
  const file = path.join(dir, STATE_FILE);
  if (current) fs.writeFileSync(file, current.body);
  else fs.rmSync(file, { force: true });
  return current;
}

/**
 * Reads back what the tool left and stores it when it changed. Runs after every apply, failed and
 * interrupted ones included: state written by a half-finished apply names real resources.
 */
export async function persistStateOut(
  dir: string,
  ctx: StateTarget,
  before: CurrentState | undefined,
): Promise<ParsedState> {
  const body = readLocalState(dir);
  if (!body) return parseState(before?.body);
  if (body !== before?.body) {
    await putState(dir, ctx, toCurrent(body, ctx.runId), expectedOf(before));
    // The errored copy is now in the store; leaving it would shadow the next run's state.
    fs.rmSync(path.join(dir, ERRORED_STATE_FILE), { force: true });
    fs.writeFileSync(path.join(dir, STATE_FILE), body);
  }
  return parseState(body);
}

/**
 * For a tool's watchdog whose worker is gone: stores the state the tool left in `dir` if it moved past the state
 * the apply started from (`from`), as a compare-and-swap over it. Returns the serial now stored, or undefined
 * when the tool left nothing new.
 */
export async function storeToolState(dir: string, ctx: StateTarget, from: ExpectedState): Promise<number | undefined> {
  const body = readLocalState(dir);
  if (!body) return undefined;
  const found = toCurrent(body, ctx.runId);
  const moved =
    from === 'absent' ? found.lineage !== '' : found.lineage !== from.lineage || found.serial !== from.serial;
  if (!moved) return undefined;
  await putState(dir, ctx, found, from);
  // What the worker would have done: the store has it now, so the errored copy must not shadow it.
  fs.rmSync(path.join(dir, ERRORED_STATE_FILE), { force: true });
  fs.writeFileSync(path.join(dir, STATE_FILE), body);
  return found.serial;
}
