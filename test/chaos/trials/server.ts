/**
 * Temporal dev server SIGKILLed mid-run and restarted on the same SQLite file and port: the run's history
 * survives, the worker and the API reconnect, and the run ends as if nothing happened.
 */
import type { DeploymentStatus } from '../../../src/contracts/runs';
import type { StackName } from '../lib/invariants';
import { pause } from '../lib/procs';
import type { Rng } from '../lib/rng';
import { EnvTrial, recordError, watchStatus } from '../lib/trial';
import type { World } from '../lib/world';

export interface ServerKillTrial {
  index: number;
  stack: StackName;
  environment: string;
  /** The run's phase the kill waits for, then how far into it the server dies. */
  target: DeploymentStatus;
  jitterMs: number;
  /** how long it stays down */
  downMs: number;
  variables: Record<string, unknown>;
}

export function planServerKills(rng: Rng, n: number): ServerKillTrial[] {
  return Array.from({ length: n }, (_, i) => {
    const r = rng.fork(`server-${i}`);
    const stack: StackName = i % 2 === 0 ? 'sim-multicloud' : 'hello-local';
    // The simulated cloud only lingers in applying (latency per change); hello-local in planning and verifying too.
    const target = r.pick<DeploymentStatus>(
      stack === 'hello-local' ? ['planning', 'applying', 'verifying'] : ['applying'],
    );
    return {
      index: i,
      stack,
      environment: `srv-${String(i).padStart(2, '0')}`,
      target,
      jitterMs: stack === 'hello-local' ? r.int(0, 300) : r.int(0, 3000),
      downMs: r.int(300, 5000),
      variables:
        stack === 'hello-local'
          ? { message: `server ${i}`, file_count: r.int(60, 100) }
          : { instance_count: r.int(2, 8), latency_ms_per_resource: r.int(400, 900) },
    };
  });
}

export async function runServerKill(world: World, t: ServerKillTrial): Promise<void> {
  const group = 'devserver-sigkill';
  const e = new EnvTrial(
    world,
    group,
    `devserver-${String(t.index).padStart(2, '0')}/${t.stack}`,
    t.stack,
    t.environment,
    0,
  );
  try {
    await world.heal();
    const run = await e.deploy(t.variables);
    if (!run) throw new Error('the run was not accepted');
    const order: DeploymentStatus[] = ['queued', 'planning', 'awaiting_approval', 'applying', 'verifying'];
    const seen = await watchStatus(
      world,
      run.id,
      (s) => s !== undefined && (order.indexOf(s) >= order.indexOf(t.target) || !order.includes(s)),
      120_000,
    );
    await pause(t.jitterMs);
    const at = (await world.run(run.id))?.status ?? 'unknown';
    await world.kill(world.temporal, 'SIGKILL');
    e.phase = at;
    await pause(t.downMs);
    await world.startTemporal();
    e.story.push(
      `target ${t.target}, seen ${seen}, dev server SIGKILLed ${t.jitterMs} ms later (run in ${at}), ` +
        `down ${t.downMs} ms ${JSON.stringify(t.variables)}`,
    );
    // Restarting what the outage took with it is the supervisor's job (start.sh); here it is only reported.
    if (!world.worker?.isAlive()) {
      const ex = await world.worker!.exited;
      e.story.push(`the worker exited on its own during the outage (code ${ex.code}, signal ${ex.signal}): restarted`);
    }
    if (!world.api?.isAlive()) e.story.push('the API exited on its own during the outage: restarted');
    await world.heal();
    await e.finishAll(300_000);
    await e.conclude();
  } catch (err) {
    recordError(group, e.name, e.started, e.story, err);
  }
}
