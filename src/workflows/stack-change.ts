/**
 * The saga every stack-changing run follows (deploy, rollback, destroy — and the automatic rollback inside a
 * failed deploy, which reuses the same plan/apply/record steps), read as its runbook:
 * queued → planning → awaiting_approval → applying → verifying → succeeded, every failure path ending cleanly
 * with the stack lock released. The steps are in stack-change-steps.ts and stack-change-rollback.ts, the run's
 * document and recorder in stack-change-run.ts.
 */
import { CancellationScope } from '@temporalio/workflow';
import type { Deployment, DeploymentInput } from '../contracts/runs';
import { applyOrRollBack } from './stack-change-rollback';
import { finish, startRun, type StackChangeRun } from './stack-change-run';
import { awaitApproval, closeSuperseded, closeUnapproved, endOnError, planChange } from './stack-change-steps';
import { StackLockHold } from './stack-lock-hold';

export { riskOf } from './stack-change-run';

/** Runs one stack change to its end and returns the final `Deployment`. */
export async function runStackChange(input: DeploymentInput): Promise<Deployment> {
  const run = startRun(input);
  try {
    return await runSaga(run);
  } finally {
    run.rec.close();
  }
}

async function runSaga(run: StackChangeRun): Promise<Deployment> {
  const { input } = run;
  const lock = new StackLockHold(input.stack, input.environment, input.priority, run.steps.locks);
  try {
    // Runs that may change infrastructure wait for the stack lock; dry runs plan without it.
    if (!input.dryRun) await lock.acquire((message) => run.rec.event('info', message));
    // The current version: the last good one for a failed deploy's rollback, and for a drift remediation the
    // check, now that this run holds the lock, that the version it restores is still the current one.
    const current =
      input.kind === 'deploy' || input.expectedCurrentVersion !== undefined
        ? await run.steps.stores.latestVersion(input)
        : undefined;
    if (input.expectedCurrentVersion !== undefined && current?.version !== input.expectedCurrentVersion)
      return closeSuperseded(run, current);
    const previous = input.kind === 'deploy' ? current : undefined;

    const change = await planChange(run);
    if (!change.plan.hasChanges) return finish(run, 'no_changes', 'plan is empty: nothing to apply');
    if (input.dryRun) return finish(run, 'planned', 'dry run: plan saved, nothing applied');

    const outcome = await awaitApproval(run, change.plan);
    if (outcome !== 'approved') return closeUnapproved(run, outcome);

    return await applyOrRollBack(run, change, previous);
  } catch (err) {
    return await endOnError(run, err, () => lock.release());
  } finally {
    await CancellationScope.nonCancellable(() => lock.release());
  }
}
