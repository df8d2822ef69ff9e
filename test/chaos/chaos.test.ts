/**
 * The chaos suite (`npm run test:chaos`): real processes (dev server on SQLite, worker, API, moto) killed at
 * seeded random moments, each trial followed by the invariant checks of lib/invariants.ts. It prints
 *
 *   chaos: trials=N passed=P failed=F lost=L duplicated=D seed=S
 *
 * and, per failed trial, what was injected where and which invariant broke. Replay with CHAOS_SEED=S; pick
 * groups with CHAOS_ONLY=<regex over group names>; size with CHAOS_KILLS, CHAOS_TERMS, CHAOS_SERVER_KILLS,
 * CHAOS_API_KILLS, CHAOS_MOTO, CHAOS_CONCURRENT, CHAOS_PAIRS (0 skips a group); CHAOS_KEEP=1 keeps the temp
 * dir (logs of every process) and CHAOS_REPORT=<file> appends the report there too.
 */
import { breakdown, failuresOf, log, recordSkipped, summaryLine } from './lib/report';
import { Rng, suiteSeed } from './lib/rng';
import { World } from './lib/world';
import { planApiKills, planConcurrency, runApiKill, runConcurrency } from './trials/api';
import { failoverGroups, planMotoTrials, runMotoTrial, setUpFailover, type FailoverSetup } from './trials/failover';
import { planServerKills, runServerKill } from './trials/server';
import { killEnvironments, planKillRounds, planTermTrials, runKillRound, runTermTrial } from './trials/worker';

const count = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  return Number.isFinite(v) && v >= 0 ? Math.floor(v) : fallback;
};
const COUNTS = {
  kills: count('CHAOS_KILLS', 20),
  terms: count('CHAOS_TERMS', 5),
  serverKills: count('CHAOS_SERVER_KILLS', 5),
  apiKills: count('CHAOS_API_KILLS', 3),
  moto: count('CHAOS_MOTO', 2),
  concurrent: count('CHAOS_CONCURRENT', 500),
  pairs: Math.max(1, count('CHAOS_PAIRS', 50)),
};
const only = process.env.CHAOS_ONLY ? new RegExp(process.env.CHAOS_ONLY) : undefined;
const enabled = (group: string, n: number) => n > 0 && (!only || only.test(group));

// Every choice is made here, from the seed, before anything starts: the config must name every environment.
const seed = suiteSeed();
const rng = new Rng(seed);
const kills = planKillRounds(rng.fork('worker-sigkill'), COUNTS.kills);
const terms = planTermTrials(rng.fork('worker-sigterm'), COUNTS.terms);
const serverKills = planServerKills(rng.fork('devserver-sigkill'), COUNTS.serverKills);
const apiKills = planApiKills(rng.fork('api-sigkill'), COUNTS.apiKills, seed);
const concurrency = planConcurrency(rng.fork('concurrent-requests'), seed, COUNTS.concurrent, COUNTS.pairs);
const motoTrials = planMotoTrials(rng.fork('moto-failover'), COUNTS.moto);
const zeroApprovals = (envs: string[]) => Object.fromEntries(envs.map((e) => [e, 0]));
const environments: Record<string, number> = {
  ...killEnvironments(kills),
  ...zeroApprovals(terms.map((t) => t.environment)),
  ...zeroApprovals(serverKills.map((t) => t.environment)),
  ...zeroApprovals(apiKills.map((t) => t.environment)),
  ...zeroApprovals(COUNTS.concurrent > 0 ? concurrency.environments : []),
};

const S3_LEASE_SKIP =
  'two workers racing one apply through the S3 apply lease belongs to the apply-lease work under way; ' +
  'this placeholder stays skipped until that lease exists';

describe('chaos: real processes killed at random moments, invariants checked after every trial', () => {
  let world: World | undefined;
  let failover: FailoverSetup | undefined;

  beforeAll(async () => {
    log(
      `chaos: seed=${seed} (replay with CHAOS_SEED=${seed}) counts ${JSON.stringify(COUNTS)}${only ? ` only ${only}` : ''}`,
    );
    if (enabled('moto-failover', COUNTS.moto)) failover = await setUpFailover(COUNTS.moto);
    world = new World({
      environments,
      failoverGroups: failover ? failoverGroups(failover) : {},
      awsEndpoint: failover?.proxy.endpoint,
    });
    await world.start();
    log(`chaos: world up in ${world.dir} (dev server :${world.ports.temporal}, API :${world.ports.api})`);
  }, 300_000);

  afterAll(async () => {
    await world?.stop();
    await failover?.proxy.down();
    await failover?.moto.stop();
    log(summaryLine(seed));
    for (const line of breakdown()) log(line);
  }, 120_000);

  /** One jest test per group: it runs the group's trials one after another and fails listing every broken invariant. */
  const group = (name: string, n: number, perTrialMs: number, body: (w: World) => Promise<void>) =>
    (enabled(name, n) ? it : it.skip)(
      `${name} ×${n}`,
      async () => {
        await body(world!);
        expect(failuresOf(name)).toEqual([]);
      },
      n * perTrialMs + 120_000,
    );

  group('api-sigkill', apiKills.length, 180_000, async (w) => {
    for (const t of apiKills) await runApiKill(w, t);
  });

  group('concurrent-requests', COUNTS.concurrent > 0 ? 1 : 0, 1_200_000, (w) => runConcurrency(w, concurrency));

  group('worker-sigkill', kills.length, 420_000, async (w) => {
    for (const r of kills) await runKillRound(w, r);
  });

  group('worker-sigterm', terms.length, 360_000, async (w) => {
    for (const t of terms) await runTermTrial(w, t);
  });

  group('moto-failover', motoTrials.length, 300_000, async (w) => {
    for (const t of motoTrials) await runMotoTrial(w, failover!, t);
  });

  // Last: the most disruptive (every process loses its connection at once).
  group('devserver-sigkill', serverKills.length, 360_000, async (w) => {
    for (const t of serverKills) await runServerKill(w, t);
  });

  recordSkipped('worker-s3-apply-lease', S3_LEASE_SKIP);
  it.skip(`worker-s3-apply-lease: ${S3_LEASE_SKIP}`, () => undefined);
});
