/**
 * Moving tfstate between the StateStore (the truth, shared by all workers) and a workspace's local
 * backend file (what the tool reads and writes while it runs).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CurrentState } from '../../store/state-store';
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

function toCurrent(body: string, runId: string): CurrentState {
  const s = parseState(body);
  return { body, serial: s.serial, lineage: s.lineage, updatedBy: runId };
}

/**
 * A workspace state newer than the store's (same lineage, higher serial; or any state when the store has
 * none) was written by a tool whose worker died before it could persist it. Record it, or the resources
 * it lists would be forgotten; a plan made before it then correctly becomes stale.
 */
export async function recoverLeftState(dir: string, ctx: ExecutorContext): Promise<void> {
  const local = readLocalState(dir);
  if (!local) return;
  let found: CurrentState;
  try {
    found = toCurrent(local, ctx.runId);
  } catch {
    return;
  }
  const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
  const newer = current ? found.lineage === current.lineage && found.serial > current.serial : found.lineage !== '';
  if (!newer) return;
  ctx.log({
    level: 'warn',
    message: `recovered state serial ${found.serial} left in the workspace by an earlier call`,
  });
  await ctx.state.putCurrentState(ctx.stack, ctx.environment, found);
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
  ctx: ExecutorContext,
  before: CurrentState | undefined,
): Promise<ParsedState> {
  const body = readLocalState(dir);
  if (!body) return parseState(before?.body);
  if (body !== before?.body) {
    await ctx.state.putCurrentState(ctx.stack, ctx.environment, toCurrent(body, ctx.runId));
    // The errored copy is now in the store; leaving it would shadow the next run's state.
    fs.rmSync(path.join(dir, ERRORED_STATE_FILE), { force: true });
    fs.writeFileSync(path.join(dir, STATE_FILE), body);
  }
  return parseState(body);
}
