/** What every trial shares: starting tracked runs, driving them to their end, checking, recording. */
import type { DeploymentStatus } from '../../../src/contracts/runs';
import { checkEnvironment, type StackName, type TrackedRun, type Violation } from './invariants';
import { record, type TrialResult } from './report';
import type { World } from './world';

/** Every run's requested variables, by run id (to replan the latest version of an environment). */
const requested = new Map<string, Record<string, unknown>>();

export const variablesOf = (id: string) => requested.get(id);

/** One environment's share of a trial: its runs and where it stands. */
export class EnvTrial {
  readonly runs: TrackedRun[] = [];
  readonly story: string[] = [];
  readonly violations: Violation[] = [];
  readonly started = Date.now();
  /** Counted by the trial itself (e.g. a key no request got a run for), on top of what the checks count. */
  lost = 0;
  duplicated = 0;
  /** The run's status when the fault hit it. */
  phase?: string;

  constructor(
    readonly world: World,
    readonly group: string,
    readonly name: string,
    readonly stack: StackName,
    readonly environment: string,
    readonly approvals: number,
  ) {}

  /** POSTs a deployment; the run is tracked (and its variables remembered) once the API accepted it. */
  async deploy(
    variables: Record<string, unknown>,
    expected: DeploymentStatus[] = ['succeeded'],
    idempotencyKey?: string,
  ): Promise<TrackedRun | undefined> {
    const res = await this.world.http('POST', '/api/v1/deployments', {
      stack: this.stack,
      environment: this.environment,
      variables,
      ...(idempotencyKey ? { idempotencyKey } : {}),
    });
    if (res.status !== 202) {
      this.violations.push({
        invariant: 'accepted',
        detail: `POST /deployments answered ${res.status} ${res.error ?? JSON.stringify(res.body)}`,
      });
      return undefined;
    }
    return this.track(res.body.id as string, variables, expected);
  }

  track(id: string, variables: Record<string, unknown>, expected: DeploymentStatus[] = ['succeeded']): TrackedRun {
    requested.set(id, variables);
    let run = this.runs.find((r) => r.id === id);
    if (!run) {
      run = { id, variables, expected };
      this.runs.push(run);
    }
    return run;
  }

  /** Drives a run to its end: approves it (as bob) whenever it waits for approval here. */
  async finish(run: TrackedRun, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const d = await this.world.run(run.id);
      if (d && d.completedAt) {
        run.final = d;
        return;
      }
      if (d?.status === 'awaiting_approval' && this.approvals > 0 && d.approvals.length < this.approvals) {
        await this.world.http('POST', `/api/v1/deployments/${run.id}/approve`, { planHash: d.plan?.planHash }, 'bob');
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  async finishAll(timeoutMs = 300_000): Promise<void> {
    await Promise.all(this.runs.map((r) => (r.final ? undefined : this.finish(r, timeoutMs))));
  }

  /** Runs the invariant checks and records the trial. */
  async conclude(): Promise<TrialResult> {
    let lost = this.lost;
    let duplicated = this.duplicated;
    try {
      const c = await checkEnvironment(this.world, this.stack, this.environment, this.runs, variablesOf);
      this.violations.push(...c.violations);
      lost += c.lost;
      duplicated += c.duplicated;
    } catch (err) {
      this.violations.push({ invariant: 'check_error', detail: (err as Error).stack ?? String(err) });
    }
    return record({
      group: this.group,
      name: this.name,
      story: this.story,
      violations: this.violations,
      phase: this.phase,
      lost,
      duplicated,
      ms: Date.now() - this.started,
    });
  }
}

/**
 * Polls a run's status every ~40 ms until `until` says stop; returns the last status seen. Used to catch a run
 * in a given phase before injecting a fault (the fault then lands at a random moment within that phase).
 */
export async function watchStatus(
  world: World,
  id: string,
  until: (status: DeploymentStatus | undefined) => boolean,
  timeoutMs: number,
): Promise<DeploymentStatus | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: DeploymentStatus | undefined;
  for (;;) {
    last = (await world.run(id))?.status ?? last;
    if (until(last) || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Records a trial that broke before its checks (the harness itself failed): the error is the violation. */
export function recordError(group: string, name: string, started: number, story: string[], err: unknown): TrialResult {
  return record({
    group,
    name,
    story,
    violations: [{ invariant: 'trial_error', detail: (err as Error).stack ?? String(err) }],
    lost: 0,
    duplicated: 0,
    ms: Date.now() - started,
  });
}
