/**
 * What must hold after every trial, whatever was killed when (the promises: nothing applied twice, nothing that
 * exists forgotten, no lock stuck). Each check names its invariant, so a report says exactly which one broke:
 *
 *   run_ended            every accepted run reaches a terminal status (else it is counted lost)
 *   final_status         ...and the one the trial expects (e.g. succeeded after a worker crash)
 *   one_version_per_run  exactly one state version per completed run (succeeded / rolled_back), none otherwise,
 *                        version numbers unique and gapless
 *   no_unknown_run       Temporal holds no run the trial did not ask for (a retried request made a second one)
 *   state_settled        no apply marker left in the state
 *   no_duplicate         nothing exists twice in reality
 *   no_orphan            everything that exists is in the state (else forgotten: counted as duplicated)
 *   no_lost_resource     everything in the state exists (else counted lost)
 *   matches_plan         the state holds what the latest version's variables plan (e.g. 3 + instance_count)
 *   replan_no_changes    a dry run with the latest version's variables finds nothing to do
 *   lock_free            the stack lock's query shows no holder and no queue
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Deployment, DeploymentStatus } from '../../../src/contracts/runs';
import type { SimState } from '../../../src/executors/simulated/model';
import type { World } from './world';

export type StackName = 'hello-local' | 'sim-multicloud';

/** One broken invariant, with what was seen. */
export interface Violation {
  invariant: string;
  detail: string;
}

/** A run the trial started, what it expects of it, and how it ended. */
export interface TrackedRun {
  id: string;
  variables: Record<string, unknown>;
  expected: DeploymentStatus[];
  final?: Deployment;
}

/** The outcome of the checks of one environment. */
export interface CheckResult {
  violations: Violation[];
  lost: number;
  duplicated: number;
}

const COMPLETED: DeploymentStatus[] = ['succeeded', 'rolled_back'];

function briefError(d: Deployment): string {
  const error = d.error ? `${d.error.code}: ${d.error.message.slice(0, 240)}` : '';
  const events = d.events
    .map((e) => e.message)
    .filter((m) => !d.error || !m.startsWith(d.error.code))
    .slice(-3)
    .map((m) => m.slice(0, 100));
  return [error, `last events: ${events.join(' | ')}`].filter(Boolean).join('; ');
}

/** What a stack's state holds for given variables: the resources its configuration plans. */
export function plannedCount(stack: StackName, variables: Record<string, unknown>): number {
  if (stack === 'sim-multicloud') return 3 + Number(variables.instance_count ?? 2); // bucket, database, DNS + instances
  return Number(variables.file_count ?? 3); // local_file resources (random_pet aside)
}

interface Inventory {
  /** address → ids (or file paths) in the state */
  state: Map<string, string>;
  /** What exists: id → address */
  reality: Map<string, string>;
  settled: boolean;
  notes: string[];
}

async function simInventory(world: World, environment: string): Promise<Inventory> {
  const current = await world.stores.state.getCurrentState('sim-multicloud', environment);
  const state = new Map<string, string>();
  let settled = true;
  if (current) {
    const body = JSON.parse(current.body) as SimState;
    for (const r of body.resources) if (r.status !== 'simulated') state.set(r.address, r.id);
    settled = !body.applying;
  }
  const reality = new Map<string, string>();
  for (const [id, r] of Object.entries((await world.cloud.read('sim-multicloud', environment)).resources))
    reality.set(id, (r as { address: string }).address);
  return { state, reality, settled, notes: [] };
}

interface TfInstance {
  attributes?: { filename?: string; content?: string };
}

async function tofuInventory(world: World, environment: string): Promise<Inventory> {
  const current = await world.stores.state.getCurrentState('hello-local', environment);
  const state = new Map<string, string>();
  if (current) {
    const tf = JSON.parse(current.body) as { resources?: { type: string; name: string; instances: TfInstance[] }[] };
    for (const r of tf.resources ?? []) {
      if (r.type !== 'local_file') continue;
      r.instances.forEach((inst, i) => {
        if (inst.attributes?.filename) state.set(`${r.type}.${r.name}[${i}]`, inst.attributes.filename);
      });
    }
  }
  const dir = world.outDir(environment);
  const reality = new Map<string, string>();
  if (fs.existsSync(dir))
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.txt'))) reality.set(path.join(dir, f), f);
  const suffixes = new Set([...reality.values()].map((f) => f.replace(/^hello-\d+-/, '')));
  const notes = suffixes.size > 1 ? [`files carry ${suffixes.size} different random_pet suffixes`] : [];
  return { state, reality, settled: true, notes };
}

/**
 * Checks one environment after its trial's runs ended (or were given up on). `variablesOf` maps a run id to the
 * variables it was requested with, to replan the latest version.
 */
export async function checkEnvironment(
  world: World,
  stack: StackName,
  environment: string,
  runs: TrackedRun[],
  variablesOf: (runId: string) => Record<string, unknown> | undefined,
): Promise<CheckResult> {
  const violations: Violation[] = [];
  let lost = 0;
  let duplicated = 0;
  const v = (invariant: string, detail: string) => violations.push({ invariant, detail });

  for (const r of runs) {
    if (!r.final) {
      lost++;
      v('run_ended', `run ${r.id} did not reach a terminal status`);
    } else if (!r.expected.includes(r.final.status)) {
      v(
        'final_status',
        `run ${r.id}: expected ${r.expected.join('|')}, got ${r.final.status} (${briefError(r.final)})`,
      );
    }
  }

  // Runs Temporal knows of on this stack/environment that the trial never asked for (dry-run replans come later).
  try {
    const known = new Set(runs.map((r) => r.id));
    const unknown = (await world.runIds(stack, environment)).filter((id) => !known.has(id));
    if (unknown.length) {
      duplicated += unknown.length;
      v('no_unknown_run', `${unknown.length} run(s) nobody asked for: ${unknown.join(', ')}`);
    }
  } catch (err) {
    v('check_error', `listing runs: ${(err as Error).message}`);
  }

  const versions = await world.stores.state.listVersions(stack, environment, 10_000);
  const numbers = versions.map((x) => x.version).sort((a, b) => a - b);
  if (new Set(numbers).size !== numbers.length || numbers.some((n, i) => n !== i + 1))
    v('one_version_per_run', `version numbers are not 1..${numbers.length} once each: ${numbers.join(',')}`);
  for (const r of runs) {
    const mine = versions.filter((x) => x.deploymentId === r.id);
    const want = r.final && COMPLETED.includes(r.final.status) ? 1 : 0;
    if (mine.length !== want) {
      if (mine.length > want) duplicated += mine.length - want;
      v(
        'one_version_per_run',
        `run ${r.id} (${r.final?.status ?? 'not ended'}) has ${mine.length} state version(s) [${mine.map((x) => x.version).join(',')}], expected ${want}`,
      );
    }
  }
  const foreign = versions.filter((x) => !runs.some((r) => r.id === x.deploymentId));
  if (foreign.length)
    v(
      'one_version_per_run',
      `version(s) ${foreign.map((x) => `${x.version} by ${x.deploymentId}`).join(', ')} belong to no run of this trial`,
    );

  const inv =
    stack === 'sim-multicloud' ? await simInventory(world, environment) : await tofuInventory(world, environment);
  if (!inv.settled) v('state_settled', 'the state still carries an apply-in-progress marker');
  const stateValues = new Set(inv.state.values());
  const realityKeys = new Set(inv.reality.keys());
  const byAddress = new Map<string, string[]>();
  for (const [id, address] of inv.reality) byAddress.set(address, [...(byAddress.get(address) ?? []), id]);
  const twice = [...byAddress].filter(([, ids]) => ids.length > 1);
  if (twice.length) {
    duplicated += twice.reduce((n, [, ids]) => n + ids.length - 1, 0);
    v('no_duplicate', `exists more than once: ${twice.map(([a, ids]) => `${a} ×${ids.length}`).join(', ')}`);
  }
  for (const n of inv.notes) v('no_duplicate', n);
  const orphans = [...realityKeys].filter((k) => !stateValues.has(k));
  if (orphans.length) {
    duplicated += orphans.length;
    v(
      'no_orphan',
      `${orphans.length} exist(s) but not in the state: ${orphans
        .slice(0, 5)
        .map((o) => path.basename(o))
        .join(', ')}${orphans.length > 5 ? ', ...' : ''}`,
    );
  }
  const missing = [...inv.state].filter(([, id]) => !realityKeys.has(id));
  if (missing.length) {
    lost += missing.length;
    v(
      'no_lost_resource',
      `${missing.length} in the state but gone: ${missing
        .slice(0, 5)
        .map(([a]) => a)
        .join(', ')}`,
    );
  }

  const latest = versions.sort((a, b) => b.version - a.version)[0];
  let replanVars: Record<string, unknown> | undefined;
  if (latest) {
    const source = latest.kind === 'rollback' ? versions.find((x) => x.version === latest.restoredFrom) : latest;
    replanVars = source ? variablesOf(source.deploymentId) : undefined;
    if (replanVars) {
      const want = plannedCount(stack, replanVars);
      if (inv.state.size !== want)
        v(
          'matches_plan',
          `state holds ${inv.state.size} resource(s), version ${latest.version}'s variables plan ${want}`,
        );
    }
  }

  // The lock: released once the runs ended (the release is a signal; give it a moment to land).
  const lock = await pollLock(world, stack, environment);
  if (lock) v('lock_free', lock);

  if (replanVars) {
    const res = await world.http('POST', '/api/v1/deployments', {
      stack,
      environment,
      variables: replanVars,
      dryRun: true,
    });
    if (res.status !== 202) v('replan_no_changes', `dry run refused: ${res.status} ${JSON.stringify(res.body)}`);
    else {
      const d = await world.waitEnded(res.body.id, 120_000);
      if (!d) v('replan_no_changes', `dry run ${res.body.id} did not end`);
      else if (d.status !== 'no_changes')
        v(
          'replan_no_changes',
          `dry run ended ${d.status}${d.plan ? ` (+${d.plan.add} ~${d.plan.change} -${d.plan.destroy})` : ''}${d.status === 'failed' ? `: ${briefError(d)}` : ''}`,
        );
    }
  }
  return { violations, lost, duplicated };
}

/** undefined when the lock is free (or no lock workflow runs), else what holds it. */
async function pollLock(world: World, stack: string, environment: string): Promise<string | undefined> {
  const deadline = Date.now() + 20_000;
  let last = '';
  for (;;) {
    try {
      const s = await world.lockState(stack, environment);
      if (!s || (!s.holder && s.queue.length === 0)) return undefined;
      last = `held by ${s.holder?.workflowId ?? 'nobody'}${s.holder ? ` since ${s.holder.since}` : ''}, queue [${s.queue.map((q) => q.workflowId).join(', ')}]`;
    } catch (err) {
      last = `lock query failed: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
}
