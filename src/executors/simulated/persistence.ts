/**
 * Where the simulated cloud keeps things: its state in the StateStore (CurrentState, like tfstate), and
 * its "reality" (what exists in the simulated providers) as a separate document in an ArtifactStore,
 * `simcloud/<stack>/<env>/reality.json`. Keeping reality apart from state is what makes drift real: an
 * out-of-band change edits reality only, and the next refresh sees state and reality disagree.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, StrataError } from '../../shared/errors';
import type { ArtifactStore } from '../../store/artifact-store';
import type { ExecutorContext } from '../types';
import { failure } from './failures';
import type { Reality, SimState } from './model';

/** State as loaded: serial 0 and empty lineage when the stack/env has never been applied. */
export async function loadState(ctx: ExecutorContext): Promise<SimState> {
  const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
  if (!current) return { format: 'strata-sim-state/1', serial: 0, lineage: '', resources: [], outputs: {} };
  let body: SimState;
  try {
    body = JSON.parse(current.body) as SimState;
  } catch (err) {
    throw failure(
      ErrorCode.INTERNAL,
      `state of ${ctx.stack}/${ctx.environment} is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (body.format !== 'strata-sim-state/1') {
    throw failure(
      ErrorCode.INTERNAL,
      `state of ${ctx.stack}/${ctx.environment} was not written by the simulated executor`,
    );
  }
  // CurrentState's serial/lineage are authoritative (they are what plans are compared against).
  return { ...body, serial: current.serial, lineage: current.lineage };
}

/** Writes state with serial + 1 (a new lineage on the first write), marking this run as the writer. */
export async function persistState(ctx: ExecutorContext, state: SimState): Promise<void> {
  // Compare-and-swap over the state this apply loaded or last wrote: a lost race means another writer moved it.
  const expected = state.lineage ? { serial: state.serial, lineage: state.lineage } : ('absent' as const);
  const next = { ...state, serial: state.serial + 1, lineage: state.lineage || randomUUID() };
  try {
    await ctx.state.putCurrentState(
      ctx.stack,
      ctx.environment,
      { body: JSON.stringify(next), serial: next.serial, lineage: next.lineage, updatedBy: ctx.runId },
      expected,
    );
  } catch (err) {
    if (err instanceof StrataError && err.code === ErrorCode.STATE_CONFLICT) {
      throw failure(ErrorCode.STATE_CONFLICT, err.message, err.details as Record<string, unknown>);
    }
    throw err;
  }
  state.serial = next.serial;
  state.lineage = next.lineage;
}

/** The simulated providers' side: what exists, by resource id, per stack/env. */
export class SimulatedCloud {
  constructor(private readonly store: ArtifactStore) {}

  static key(stack: string, environment: string): string {
    return `simcloud/${stack}/${environment}/reality.json`;
  }

  async read(stack: string, environment: string): Promise<Reality> {
    const key = SimulatedCloud.key(stack, environment);
    if (!(await this.store.exists(key))) return { format: 'strata-sim-cloud/1', resources: {} };
    return JSON.parse((await this.store.get(key)).toString('utf8')) as Reality;
  }

  async write(stack: string, environment: string, reality: Reality): Promise<void> {
    await this.store.put(SimulatedCloud.key(stack, environment), JSON.stringify(reality));
  }
}
