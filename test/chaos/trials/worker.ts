/**
 * Worker crashes and restarts.
 *
 * SIGKILL rounds: two runs at once, one per stack, each on a fresh environment (some with a baseline version
 * first, so the chaos run both adds and removes). The round's primary run is watched until it reaches the
 * round's target phase (planning, awaiting approval, applying, verifying), then the worker's whole process
 * group is SIGKILLed at a random moment within that phase, wherever the other run happens to be, and a
 * replacement worker is started at once. Both runs must then succeed with state == reality.
 *
 * SIGTERM trials: the worker is asked to stop (as `npm start`'s Ctrl-C or a rolling restart does) while a run
 * applies. The graceful shutdown must let the run succeed without a rollback.
 */
import type { DeploymentStatus } from '../../../src/contracts/runs';
import type { StackName } from '../lib/invariants';
import { pause } from '../lib/procs';
import type { Rng } from '../lib/rng';
import { EnvTrial, recordError, watchStatus } from '../lib/trial';
import type { World } from '../lib/world';

type Phase = 'planning' | 'awaiting_approval' | 'applying' | 'verifying';
const PHASES: Phase[] = ['planning', 'awaiting_approval', 'applying', 'verifying'];
const ORDER: DeploymentStatus[] = ['queued', 'planning', 'awaiting_approval', 'applying', 'verifying'];

interface Side {
  stack: StackName;
  environment: string;
  approvals: number;
  baseline?: Record<string, unknown>;
  variables: Record<string, unknown>;
}

/** One SIGKILL round, fully decided by the seed before anything starts. */
export interface KillRound {
  index: number;
  target: Phase;
  /** ms into the target phase at which the kill lands */
  jitterMs: number;
  /** ms between the primary's and the secondary's POST */
  offsetMs: number;
  primary: Side;
  secondary: Side;
}

/**
 * Variables of a run, shaped so the target phase lasts long enough to be hit: hello-local's apply takes some
 * 5-10 ms per file, the simulated cloud's `latency_ms_per_resource` per change.
 */
function variablesFor(
  stack: StackName,
  rng: Rng,
  tag: string,
  target?: Phase,
  avoid?: Record<string, unknown>,
): Record<string, unknown> {
  for (;;) {
    const v =
      stack === 'hello-local'
        ? { message: `chaos ${tag}`, file_count: target === 'applying' ? rng.int(60, 100) : rng.int(4, 60) }
        : { instance_count: rng.int(1, 8), latency_ms_per_resource: rng.int(150, 500) };
    const key = stack === 'hello-local' ? 'file_count' : 'instance_count';
    if (!avoid || avoid[key] !== v[key as keyof typeof v]) return v;
  }
}

/**
 * How far into the target phase the kill may land (measured here: hello-local prepares and plans in ~0.9 s,
 * applies 50 files in ~0.5 s and verifies in ~0.7 s; the simulated cloud plans and verifies in a few ms, so
 * there the kill lands as soon as the phase is seen, or just after it).
 */
function jitterFor(stack: StackName, target: Phase, rng: Rng, variables: Record<string, unknown>): number {
  if (target === 'awaiting_approval') return rng.int(0, 2000);
  if (stack === 'sim-multicloud') {
    if (target !== 'applying') return 0;
    const changes = 3 + Number(variables.instance_count);
    return rng.int(0, Math.floor(changes * Number(variables.latency_ms_per_resource) * 0.9));
  }
  return rng.int(0, { planning: 300, applying: 350, verifying: 300 }[target]);
}

/** Decides every round from the seed; the environments go into the world's config before it starts. */
export function planKillRounds(rng: Rng, n: number): KillRound[] {
  const order = { 'hello-local': rng.shuffle(PHASES), 'sim-multicloud': rng.shuffle(PHASES) };
  return Array.from({ length: n }, (_, i) => {
    const r = rng.fork(`kill-${i}`);
    const stack: StackName = i % 2 === 0 ? 'hello-local' : 'sim-multicloud';
    const other: StackName = stack === 'hello-local' ? 'sim-multicloud' : 'hello-local';
    const target = order[stack][Math.floor(i / 2) % PHASES.length];
    const side = (s: StackName, env: string, approvals: number, t?: Phase): Side => {
      const baseline = r.chance(0.5) ? variablesFor(s, r, `base ${i}`) : undefined;
      return { stack: s, environment: env, approvals, baseline, variables: variablesFor(s, r, `${i}`, t, baseline) };
    };
    const primary = side(stack, `kill-${String(i).padStart(2, '0')}-a`, target === 'awaiting_approval' ? 1 : 0, target);
    return {
      index: i,
      target,
      jitterMs: jitterFor(stack, target, r, primary.variables),
      offsetMs: r.int(0, 2500),
      primary,
      secondary: side(other, `kill-${String(i).padStart(2, '0')}-b`, r.chance(0.3) ? 1 : 0),
    };
  });
}

export function killEnvironments(rounds: KillRound[]): Record<string, number> {
  return Object.fromEntries(rounds.flatMap((r) => [r.primary, r.secondary].map((s) => [s.environment, s.approvals])));
}

/** Kills the current worker's group and starts its replacement at once; returns how long the kill took. */
async function crashWorker(world: World, signal: NodeJS.Signals): Promise<{ pid: number; exitMs: number }> {
  const victim = world.worker!;
  const t0 = Date.now();
  await world.kill(victim, signal);
  const exitMs = Date.now() - t0;
  world.startWorker();
  return { pid: victim.pid, exitMs };
}

export async function runKillRound(world: World, round: KillRound): Promise<void> {
  const group = 'worker-sigkill';
  const t0 = Date.now();
  const sides = [round.primary, round.secondary].map(
    (s, i) =>
      new EnvTrial(
        world,
        group,
        `sigkill-${String(round.index).padStart(2, '0')}/${i === 0 ? 'primary' : 'secondary'}/${s.stack}`,
        s.stack,
        s.environment,
        s.approvals,
      ),
  );
  try {
    await world.heal();
    // Baselines first (not under fire), so the chaos run has something to change and to destroy.
    await Promise.all(
      [round.primary, round.secondary].map(async (s, i) => {
        if (!s.baseline) return;
        const run = await sides[i].deploy(s.baseline);
        if (run) await sides[i].finish(run, 180_000);
        sides[i].story.push(`baseline ${JSON.stringify(s.baseline)} → ${run?.final?.status ?? 'not ended'}`);
      }),
    );
    const primary = await sides[0].deploy(round.primary.variables);
    await pause(round.offsetMs);
    const secondary = await sides[1].deploy(round.secondary.variables);
    if (!primary) throw new Error('the primary run was not accepted');
    // Watch the primary until it is in the target phase (or past it: then the kill lands wherever it is).
    const reached = await watchStatus(
      world,
      primary.id,
      (s) =>
        (s !== undefined && ORDER.indexOf(s) >= ORDER.indexOf(round.target)) || (s !== undefined && !ORDER.includes(s)),
      120_000,
    );
    await pause(round.jitterMs);
    const before = await Promise.all([primary, secondary].map((r) => (r ? world.run(r.id) : undefined)));
    const { pid } = await crashWorker(world, 'SIGKILL');
    const phase = (i: number) => before[i]?.status ?? 'unknown';
    sides.forEach((s, i) => (s.phase = phase(i)));
    sides[0].story.push(
      `target ${round.target}, seen ${reached}, SIGKILL worker ${pid} ${round.jitterMs} ms later in ${phase(0)} ${JSON.stringify(round.primary.variables)}`,
    );
    sides[1].story.push(
      `same SIGKILL, this run in ${phase(1)} (started ${round.offsetMs} ms after the primary) ${JSON.stringify(round.secondary.variables)}`,
    );
    await Promise.all(sides.map((s) => s.finishAll(300_000)));
    for (const s of sides) await s.conclude();
  } catch (err) {
    for (const s of sides) recordError(group, s.name, t0, s.story, err);
  }
}

/** SIGTERM mid-apply: the graceful shutdown lets the apply finish (or hands it over) and the run succeeds, no rollback. */
export interface TermTrial {
  index: number;
  stack: StackName;
  environment: string;
  jitterMs: number;
  variables: Record<string, unknown>;
}

/**
 * A simulated apply that lasts 2-6 s (finishes within the worker's 10 s shutdown grace) or 14-24 s (outlasts it,
 * so the shutdown must hand the apply over instead of failing it); the long ones are every other sim trial.
 */
function simApply(r: Rng, long: boolean): Record<string, unknown> {
  const instance_count = r.int(1, 8);
  const ms = long ? r.int(14_000, 24_000) : r.int(2000, 6000);
  return { instance_count, latency_ms_per_resource: Math.round(ms / (3 + instance_count)) };
}

export function planTermTrials(rng: Rng, n: number): TermTrial[] {
  return Array.from({ length: n }, (_, i) => {
    const r = rng.fork(`term-${i}`);
    const stack: StackName = i % 2 === 0 ? 'sim-multicloud' : 'hello-local';
    return {
      index: i,
      stack,
      environment: `term-${String(i).padStart(2, '0')}`,
      jitterMs: r.int(0, stack === 'sim-multicloud' ? 1500 : 300),
      variables:
        stack === 'hello-local' ? { message: `term ${i}`, file_count: r.int(60, 100) } : simApply(r, i % 4 === 0),
    };
  });
}

export async function runTermTrial(world: World, t: TermTrial): Promise<void> {
  const group = 'worker-sigterm';
  const e = new EnvTrial(
    world,
    group,
    `sigterm-${String(t.index).padStart(2, '0')}/${t.stack}`,
    t.stack,
    t.environment,
    0,
  );
  try {
    await world.heal();
    const run = await e.deploy(t.variables);
    if (!run) throw new Error('the run was not accepted');
    const seen = await watchStatus(
      world,
      run.id,
      (s) => s === 'applying' || (s !== undefined && ORDER.indexOf(s) < 0),
      120_000,
    );
    await pause(t.jitterMs);
    const at = (await world.run(run.id))?.status ?? 'unknown';
    const { pid, exitMs } = await crashWorker(world, 'SIGTERM');
    e.phase = at;
    e.story.push(
      `seen ${seen}, SIGTERM worker ${pid} ${t.jitterMs} ms later in ${at}; it exited after ${exitMs} ms ${JSON.stringify(t.variables)}`,
    );
    await e.finishAll(300_000);
    const d = run.final;
    if (d && (d.rollback || d.events.some((ev) => ev.message.includes('rolling back'))))
      e.violations.push({
        invariant: 'no_rollback',
        detail:
          `the graceful shutdown failed the apply and sent the run down its rollback path ` +
          `(rollback ${d.rollback?.status ?? 'started'}; ${d.error ? `${d.error.code}: ${d.error.message}` : d.status})`,
      });
    await e.conclude();
  } catch (err) {
    recordError(group, e.name, e.started, e.story, err);
  }
}
