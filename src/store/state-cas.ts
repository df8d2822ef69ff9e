/** The compare-and-swap rule both state stores apply to the current state (see StateStore.putCurrentState). */
import { ErrorCode, StrataError } from '../shared/errors';
import type { CurrentState, ExpectedState } from './state-store';

/** What to expect when writing over `current` (as read before the write). */
export function expectedOf(current: Pick<CurrentState, 'serial' | 'lineage'> | undefined): ExpectedState {
  return current ? { serial: current.serial, lineage: current.lineage } : 'absent';
}

/** The document as stored: only the known fields, updatedBy only when set. */
export function currentDoc(state: CurrentState): CurrentState {
  const doc: CurrentState = { body: state.body, serial: state.serial, lineage: state.lineage };
  if (state.updatedBy !== undefined) doc.updatedBy = state.updatedBy;
  return doc;
}

function describe(s: Pick<CurrentState, 'serial' | 'lineage'> | undefined | 'absent'): string {
  return s === undefined || s === 'absent' ? 'no state' : `serial ${s.serial} (lineage ${s.lineage || 'none'})`;
}

/** The error of a lost compare-and-swap: names what the writer expected and what it found. */
export function stateConflict(
  where: string,
  expected: ExpectedState,
  found: Pick<CurrentState, 'serial' | 'lineage' | 'updatedBy'> | undefined,
): StrataError {
  return new StrataError(
    ErrorCode.STATE_CONFLICT,
    `state of ${where} was written by someone else: expected ${describe(expected)}, found ${describe(found)}` +
      `${found?.updatedBy ? ` written by ${found.updatedBy}` : ''}; nothing was written`,
    {
      expected,
      found: found ? { serial: found.serial, lineage: found.lineage, updatedBy: found.updatedBy } : undefined,
    },
  );
}

/**
 * Decides a write against what is stored now: 'same' when the stored document already is `doc` (nothing to
 * write), 'write' when it is what the writer expected; otherwise throws STATE_CONFLICT.
 */
export function compareForWrite(
  where: string,
  stored: CurrentState | undefined,
  doc: CurrentState,
  expected: ExpectedState,
): 'same' | 'write' {
  if (
    stored &&
    stored.body === doc.body &&
    stored.serial === doc.serial &&
    stored.lineage === doc.lineage &&
    stored.updatedBy === doc.updatedBy
  ) {
    return 'same';
  }
  const matches =
    expected === 'absent'
      ? stored === undefined
      : stored !== undefined && stored.serial === expected.serial && stored.lineage === expected.lineage;
  if (!matches) throw stateConflict(where, expected, stored);
  return 'write';
}
