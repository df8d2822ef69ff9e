/**
 * One planned change carried out on the simulated cloud and the state (in memory; the caller persists).
 * Apply uses it for real; plan uses it on scratch copies to project the outputs the apply will produce.
 */
import { sameValue, type PlannedChange, type Reality, type SimState } from './model';

/** Past tense of each action, for log lines and failure summaries. */
export const DONE = { create: 'created', update: 'updated', replace: 'replaced', delete: 'destroyed' } as const;

/** Carries out one change on the cloud and the state; returns the log line and whether the cloud changed. */
export function perform(
  c: PlannedChange,
  state: SimState,
  reality: Reality,
  dryRun: boolean,
): { message: string; cloudChanged: boolean } {
  const idx = state.resources.findIndex((r) => r.address === c.address);
  const existing = idx >= 0 ? state.resources[idx] : undefined;
  if (dryRun && existing?.status === 'running') {
    return {
      message: `would be ${DONE[c.action]} (dry run: ${c.provider} changes nothing that exists); left as is`,
      cloudChanged: false,
    };
  }
  if (c.action === 'delete') {
    const ids = new Set([c.before?.id, existing?.status === 'running' ? existing.id : undefined]);
    let cloudChanged = false;
    for (const id of ids) {
      if (id && reality.resources[id]) {
        delete reality.resources[id];
        cloudChanged = true;
      }
    }
    if (idx >= 0) state.resources.splice(idx, 1);
    return { message: `Destruction complete [id=${c.before?.id ?? existing?.id}]`, cloudChanged };
  }
  const after = c.after!;
  if (dryRun) {
    const record = { ...after, status: 'simulated' as const };
    if (idx >= 0) state.resources[idx] = record;
    else state.resources.push(record);
    return { message: `recorded as simulated (dry run: nothing created) [id=${after.id}]`, cloudChanged: false };
  }
  for (const old of [c.before, existing]) {
    if (old && old.status === 'running' && old.id !== after.id) delete reality.resources[old.id];
  }
  const real = reality.resources[after.id];
  const adopted = c.action !== 'update' && real !== undefined && sameValue(real.attributes, after.attributes);
  const record = { ...after, status: 'running' as const };
  // Separate copies: an out-of-band change to the cloud must never show up in the state by aliasing.
  reality.resources[after.id] = structuredClone(record);
  if (idx >= 0) state.resources[idx] = record;
  else state.resources.push(record);
  return {
    message: adopted
      ? `already exists in ${after.provider} (an earlier attempt created it): adopted [id=${after.id}]`
      : `${c.action === 'update' ? 'Modifications' : c.action === 'replace' ? 'Replacement' : 'Creation'} complete [id=${after.id}]`,
    cloudChanged: true,
  };
}
