/**
 * What happens when the approved change does not go through: a failed apply or verification of a deploy under
 * the environment's autoRollback policy rolls back to the last good state (a version's configuration, or the
 * empty stack); an interrupted one ends as it stands; anything else ends failed.
 */
import { CancellationScope, patched } from '@temporalio/workflow';
import type { StateVersionSummary } from '../activities/iac';
import type { Deployment } from '../contracts/runs';
import { failureOf, isInterruption } from './failure';
import { applyAndRecord } from './stack-change-steps';
import { cancelledBy, finish, type PlannedChange, type StackChangeRun } from './stack-change-run';

/** patched() ids: wire names, never change or reuse. */
const PATCH_INTERRUPTION_NO_ROLLBACK = 'interruption-no-rollback';
const PATCH_ROLLBACK_TO_EMPTY = 'rollback-to-empty';

/**
 * Applies the approved change; when the apply or its verification fails, a deploy under the environment's
 * autoRollback policy rolls back to the last good version, anything else ends failed.
 */
export async function applyOrRollBack(
  run: StackChangeRun,
  change: PlannedChange,
  previous: StateVersionSummary | undefined,
): Promise<Deployment> {
  const { input, d, rec } = run;
  try {
    await applyAndRecord(run, input.kind, change);
    return finish(run, 'succeeded');
  } catch (err) {
    const runCancelled = CancellationScope.current().consideredCancelled;
    if (!runCancelled && isInterruption(err) && patched(PATCH_INTERRUPTION_NO_ROLLBACK))
      return endInterrupted(run, err);
    if (cancelledBy(err)) throw err;
    d.error = failureOf(err);
    d.resources.forEach((r) => (r.status = r.status === 'planned' ? 'failed' : r.status));
    rec.event('error', `${d.error.code}: ${d.error.message}`);
    if (input.kind === 'deploy' && input.autoRollback) return autoRollback(run, previous);
    return finish(run, 'failed');
  }
}

/**
 * An apply or verification that was stopped (worker shutdown, reset, lost heartbeat) while nobody cancelled the
 * run ends failed as it stands: the rollback would be a change nobody approved, answering a failure that the
 * change never had. The state keeps what was applied; running the change again finishes it.
 */
function endInterrupted(run: StackChangeRun, err: unknown): Deployment {
  const { d, rec } = run;
  const step = d.status;
  const f = failureOf(err);
  d.error = f.code === 'FAILED' ? { code: 'APPLY_INTERRUPTED', message: `${step} interrupted: ${f.message}` } : f;
  d.rollback = { status: 'skipped' };
  rec.event('warn', `${d.error.code}: ${d.error.message}`);
  return finish(
    run,
    'failed',
    `${step} was interrupted, not failed: no automatic rollback (it would apply a plan nobody approved); ` +
      'the state keeps what was applied, run the change again to finish it',
  );
}

/** rolling_back: re-applies the configuration of the last good version as this run's compensation. */
async function autoRollback(run: StackChangeRun, previous: StateVersionSummary | undefined): Promise<Deployment> {
  const { input, d, target } = run;
  const { planning, stores } = run.steps;
  // Before the first deploy and after a destroy the last good state is empty: re-applying a version's
  // configuration would re-create what was destroyed.
  if ((!previous || previous.kind === 'destroy') && patched(PATCH_ROLLBACK_TO_EMPTY))
    return rollBackToEmpty(run, previous);
  if (!previous) {
    d.rollback = { status: 'skipped' };
    return finish(run, 'failed', 'no earlier state version to roll back to');
  }
  run.rec.setStatus('rolling_back', `rolling back to version ${previous.version}`);
  d.rollback = { toVersion: previous.version, status: 'failed' };
  try {
    const config = await planning.prepareRun({ ...target, fromVersion: previous.version });
    const plan = await planning.planRun({ ...target, variables: {}, config });
    const v = plan.hasChanges
      ? await applyAndRecord(run, 'rollback', { plan, config }, previous.version)
      : await stores.recordVersion({
          runId: input.id,
          stack: input.stack,
          environment: input.environment,
          kind: 'rollback',
          plan,
          restoredFrom: previous.version,
        });
    d.rollback = { toVersion: previous.version, status: 'succeeded', stateVersion: v.version };
    d.stateVersion = v.version;
    return finish(run, 'rolled_back', `rolled back to version ${previous.version} (now version ${v.version})`);
  } catch (err) {
    if (cancelledBy(err)) throw err;
    d.rollback = { toVersion: previous.version, status: 'failed', error: failureOf(err) };
    return finish(run, 'failed', `automatic rollback failed: ${d.rollback.error!.message}`);
  }
}

/**
 * rolling_back to nothing: plans the destroy of whatever the failed apply left in the state and applies it,
 * recorded as a `destroy` version (so the next failure still finds the empty state as the last good one).
 */
async function rollBackToEmpty(run: StackChangeRun, previous: StateVersionSummary | undefined): Promise<Deployment> {
  const { d, rec, target } = run;
  const { planning } = run.steps;
  const why = previous ? `version ${previous.version} is a destroy` : 'nothing was deployed before';
  rec.setStatus('rolling_back', `the last good state is empty (${why}): removing what the failed apply created`);
  d.rollback = { toVersion: previous?.version, status: 'failed' };
  let leftovers: string[] | undefined;
  try {
    // The destroyed version's configuration, or the stack's own; never the failed run's variables.
    const fromVersion = previous?.version;
    const config = await planning.prepareRun({ ...target, variables: {}, fromVersion });
    const plan = await planning.planRun({ ...target, variables: {}, config, destroy: true });
    leftovers = plan.resources.filter((r) => r.action === 'delete' || r.action === 'replace').map((r) => r.address);
    if (!plan.hasChanges) {
      d.rollback = { toVersion: previous?.version, status: 'succeeded' };
      return finish(run, 'rolled_back', 'the failed apply left nothing behind: the stack stays empty');
    }
    rec.event('info', `removing ${leftovers.length} leftover resource(s): ${leftovers.join(', ')}`);
    const v = await applyAndRecord(run, 'destroy', { plan, config }, previous?.version);
    d.rollback = { toVersion: previous?.version, status: 'succeeded', stateVersion: v.version };
    d.stateVersion = v.version;
    return finish(
      run,
      'rolled_back',
      `removed ${leftovers.length} leftover resource(s): the stack is empty again (version ${v.version})`,
    );
  } catch (err) {
    if (cancelledBy(err)) throw err;
    d.rollback = { toVersion: previous?.version, status: 'failed', error: failureOf(err) };
    const left = leftovers
      ? `; left in place: ${leftovers.join(', ') || 'nothing'}`
      : '; see the state for what is left';
    return finish(run, 'failed', `removing the failed apply's leftovers failed: ${d.rollback.error!.message}${left}`);
  }
}
