/**
 * The API SIGKILLed mid-request, and duplicated requests in bulk: the idempotency key is the only thing that
 * makes a client's retry safe, so the same key must always yield the same single run, and the API never
 * answers 5xx for it.
 */
import type { StackName } from '../lib/invariants';
import { pause } from '../lib/procs';
import type { Rng } from '../lib/rng';
import { EnvTrial, recordError } from '../lib/trial';
import type { HttpAnswer, World } from '../lib/world';

export interface ApiKillTrial {
  index: number;
  environment: string;
  killAfterMs: number;
  retries: number;
  key: string;
  variables: Record<string, unknown>;
}

export function planApiKills(rng: Rng, n: number, seed: number): ApiKillTrial[] {
  return Array.from({ length: n }, (_, i) => {
    const r = rng.fork(`api-${i}`);
    return {
      index: i,
      environment: `api-${String(i).padStart(2, '0')}`,
      // A POST takes some 20-100 ms here: kill before, during or just after the workflow start.
      killAfterMs: r.int(0, 120),
      retries: r.int(1, 3),
      key: `chaos-${seed}-api-${i}`,
      variables: { instance_count: r.int(1, 5) },
    };
  });
}

const STACK: StackName = 'sim-multicloud';

export async function runApiKill(world: World, t: ApiKillTrial): Promise<void> {
  const group = 'api-sigkill';
  const e = new EnvTrial(world, group, `api-${String(t.index).padStart(2, '0')}`, STACK, t.environment, 0);
  try {
    await world.heal();
    const body = { stack: STACK, environment: t.environment, variables: t.variables, idempotencyKey: t.key };
    const first = world.http('POST', '/api/v1/deployments', body);
    await pause(t.killAfterMs);
    await world.kill(world.api, 'SIGKILL');
    const firstAnswer = await first;
    await world.startApi();
    const retries = await Promise.all(
      Array.from({ length: t.retries }, () => world.http('POST', '/api/v1/deployments', body)),
    );
    e.story.push(
      `API SIGKILLed ${t.killAfterMs} ms into the POST (it got ${describe(firstAnswer)}); ${t.retries} retr${t.retries === 1 ? 'y' : 'ies'} → ${retries.map(describe).join(', ')}`,
    );
    const ids = new Set<string>();
    for (const a of [firstAnswer, ...retries]) {
      if (a.status >= 500) e.violations.push({ invariant: 'no_5xx', detail: `answered ${describe(a)}` });
      if (a.status === 202) ids.add(a.body.id as string);
    }
    if (retries.some((a) => a.status !== 202))
      e.violations.push({
        invariant: 'idempotent_retry',
        detail: `a retry was not accepted: ${retries.map(describe).join(', ')}`,
      });
    if (ids.size > 1)
      e.violations.push({
        invariant: 'idempotent_retry',
        detail: `one key, ${ids.size} run ids: ${[...ids].join(', ')}`,
      });
    for (const id of ids) e.track(id, t.variables);
    await e.finishAll(180_000);
    await e.conclude();
  } catch (err) {
    recordError(group, e.name, e.started, e.story, err);
  }
}

function describe(a: HttpAnswer): string {
  return a.status === 0
    ? `no answer (${a.error})`
    : `${a.status}${a.status === 202 ? ` ${a.body.id}` : ` ${JSON.stringify(a.body).slice(0, 120)}`}`;
}

/** The bulk trial: `requests` POSTs at once over `pairs` environments, each idempotency key sent `copies` times. */
export interface ConcurrencyPlan {
  environments: string[];
  requests: { environment: string; key: string; variables: Record<string, unknown> }[];
}

export function planConcurrency(rng: Rng, seed: number, requests: number, pairs: number): ConcurrencyPlan {
  const r = rng.fork('concurrency');
  const environments = Array.from({ length: pairs }, (_, i) => `c-${String(i).padStart(2, '0')}`);
  const keysPerEnv = 2;
  const copies = Math.max(1, Math.round(requests / (pairs * keysPerEnv)));
  const list: ConcurrencyPlan['requests'] = [];
  for (const environment of environments) {
    const counts = r.shuffle([1, 2, 3, 4, 5, 6]).slice(0, keysPerEnv); // distinct: both runs change something
    counts.forEach((instance_count, k) => {
      const key = `chaos-${seed}-${environment}-${k}`;
      for (let c = 0; c < copies; c++) list.push({ environment, key, variables: { instance_count } });
    });
  }
  return { environments, requests: r.shuffle(list).slice(0, requests) };
}

export async function runConcurrency(world: World, plan: ConcurrencyPlan): Promise<void> {
  const group = 'concurrent-requests';
  const started = Date.now();
  const trials = new Map(
    plan.environments.map((env) => [env, new EnvTrial(world, group, `concurrent/${env}`, STACK, env, 0)]),
  );
  const post = (q: ConcurrencyPlan['requests'][number]) =>
    world.http(
      'POST',
      '/api/v1/deployments',
      { stack: STACK, environment: q.environment, variables: q.variables, idempotencyKey: q.key },
      'alice',
      60_000,
    );
  try {
    await world.heal();
    const t0 = Date.now();
    const answers = await Promise.all(plan.requests.map(async (q) => ({ q, a: await post(q) })));
    const ms = Date.now() - t0;
    const statuses = new Map<number, number>();
    for (const { a } of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    const summary = `${plan.requests.length} POSTs at once in ${ms} ms: ${[...statuses].map(([s, n]) => `${s === 0 ? 'no answer' : s}×${n}`).join(', ')}`;
    // Per environment: which answers were bad, counted by kind (one line per kind, not per request).
    const bad = new Map<string, Map<string, number>>();
    const note = (env: string, invariant: string, what: string) => {
      const m = bad.get(env) ?? new Map<string, number>();
      m.set(`${invariant}\0${what}`, (m.get(`${invariant}\0${what}`) ?? 0) + 1);
      bad.set(env, m);
    };
    const idsByKey = new Map<string, Set<string>>();
    const accept = (q: ConcurrencyPlan['requests'][number], id: string) => {
      idsByKey.set(q.key, (idsByKey.get(q.key) ?? new Set<string>()).add(id));
      trials.get(q.environment)!.track(id, q.variables, ['succeeded', 'no_changes']);
    };
    for (const { q, a } of answers) {
      if (a.status === 0) note(q.environment, 'answered_in_time', `no answer within 60 s (${a.error})`);
      else if (a.status >= 500)
        note(q.environment, 'no_5xx', `${a.status} ${a.body?.error?.message ?? JSON.stringify(a.body).slice(0, 120)}`);
      else if (a.status !== 202) note(q.environment, 'accepted', `${a.status} ${JSON.stringify(a.body).slice(0, 120)}`);
      else accept(q, a.body.id as string);
    }
    // A key none of whose copies got an answer is retried once the storm is over, as its client would: the
    // retry must find the run the unanswered requests may have started, not start a second one.
    const retried: string[] = [];
    for (const q of plan.requests) {
      if (idsByKey.has(q.key) || retried.includes(q.key)) continue;
      retried.push(q.key);
      const a = await post(q);
      if (a.status === 202) accept(q, a.body.id as string);
      else {
        const e = trials.get(q.environment)!;
        e.lost++;
        e.violations.push({
          invariant: 'run_ended',
          detail: `key ${q.key}: no request got a run, the retry answered ${a.status} ${a.error ?? JSON.stringify(a.body).slice(0, 120)}`,
        });
      }
    }
    for (const [env, m] of bad)
      for (const [k, n] of m) {
        const [invariant, what] = k.split('\0');
        trials.get(env)!.violations.push({ invariant, detail: `${n} of the POSTs answered ${what}` });
      }
    for (const [key, ids] of idsByKey)
      if (ids.size > 1) {
        const e = trials.get(plan.requests.find((q) => q.key === key)!.environment)!;
        e.duplicated += ids.size - 1;
        e.violations.push({
          invariant: 'idempotent_retry',
          detail: `key ${key} → ${ids.size} runs: ${[...ids].join(', ')}`,
        });
      }
    for (const e of trials.values()) {
      e.story.push(summary);
      const mine = retried.filter((k) => plan.requests.some((q) => q.key === k && q.environment === e.environment));
      if (mine.length) e.story.push(`retried after the storm: ${mine.join(', ')}`);
    }
    await Promise.all([...trials.values()].map((e) => e.finishAll(600_000)));
    // Checks one environment at a time: each check runs a dry-run replan, and 50 at once would be a new storm.
    for (const e of trials.values()) await e.conclude();
  } catch (err) {
    for (const e of trials.values()) recordError(group, e.name, started, e.story, err);
  }
}
