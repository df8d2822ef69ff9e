/** Strata's record of a CloudFormation stack in the StateStore, written with compare-and-swap. */
import { randomUUID } from 'node:crypto';
import { ErrorCode, StrataError } from '../../shared/errors';
import type { ExecutorContext } from '../types';
import { failure, type CfnState } from './model';

/** State as loaded: serial 0 and empty lineage when the stack/env has never been applied. */
export async function loadState(ctx: ExecutorContext): Promise<CfnState> {
  const current = await ctx.state.getCurrentState(ctx.stack, ctx.environment);
  if (!current) {
    return {
      format: 'strata-cfn-state/1',
      serial: 0,
      lineage: '',
      stackName: '',
      region: '',
      baseline: { stackId: null, status: null, lastEventId: null },
      resources: [],
      outputs: {},
    };
  }
  let body: CfnState;
  try {
    body = JSON.parse(current.body) as CfnState;
  } catch (err) {
    throw failure(
      ErrorCode.INTERNAL,
      `state of ${ctx.stack}/${ctx.environment} is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (body.format !== 'strata-cfn-state/1') {
    throw failure(
      ErrorCode.INTERNAL,
      `state of ${ctx.stack}/${ctx.environment} was not written by the CloudFormation executor`,
    );
  }
  return { ...body, serial: current.serial, lineage: current.lineage };
}

/** Writes state with serial + 1 over the state this apply loaded or last wrote; a lost race is STATE_CONFLICT. */
export async function persistState(ctx: ExecutorContext, state: CfnState): Promise<void> {
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
