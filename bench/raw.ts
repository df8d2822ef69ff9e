/**
 * Section "raw": the same OpenTofu change run by hand and through Strata, side by side, plus the cost of Strata's
 * re-plan verification next to a raw no-change plan.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveCliConfig, resolveTofuBin, toolEnv } from '../src/executors/tofu/tool-env';
import { ENVS, ROOT, fmtMs, fmtX, median, table, timed, type Section, type World } from './harness';

const run = promisify(execFile);

/** A temp copy of hello-local, initialised once with the environment Strata gives OpenTofu. */
class RawStack {
  private constructor(
    readonly dir: string,
    private readonly bin: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(tmp: string, size: number): Promise<RawStack> {
    const dir = path.join(tmp, `raw-${size}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of fs.readdirSync(path.join(ROOT, 'stacks/hello-local')))
      if (f.endsWith('.tf')) fs.copyFileSync(path.join(ROOT, 'stacks/hello-local', f), path.join(dir, f));
    // toolEnv is exactly what the executor hands the tool: provider mirror CLI config, automation mode, no plugin
    // cache (Strata strips TF_PLUGIN_CACHE_DIR), and the strata_* context variables.
    const env = toolEnv(resolveCliConfig({}), {
      stack: 'hello-local',
      environment: `raw-${size}`,
      dataDir: path.join(tmp, 'raw-data'),
    });
    const s = new RawStack(dir, resolveTofuBin({}), env);
    await s.tofu(['init', '-input=false', '-no-color']);
    return s;
  }

  async tofu(args: string[]): Promise<void> {
    await run(this.bin, args, { cwd: this.dir, env: this.env, maxBuffer: 64 * 1024 * 1024 });
  }

  vars(size: number, message: string): string[] {
    return ['-var', `file_count=${size}`, '-var', `message=${message}`];
  }

  /** One raw sample: plan to a file, apply that file; the two durations in ms. */
  async change(size: number, message: string): Promise<{ plan: number; apply: number }> {
    const [plan] = await timed(() =>
      this.tofu(['plan', '-input=false', '-no-color', '-out=p', ...this.vars(size, message)]),
    );
    const [apply] = await timed(() => this.tofu(['apply', '-input=false', '-no-color', 'p']));
    return { plan, apply };
  }

  /** A plan of the applied state with nothing to change (what the re-plan verification runs). */
  async noChangePlan(size: number, message: string): Promise<void> {
    await this.tofu(['plan', '-input=false', '-no-color', ...this.vars(size, message)]);
  }
}

/** Where a Strata run's time went, from its events (workflow time) and the caller's clock, in ms. */
interface Phases {
  /** POST sent → the run's first event (request handling, workflow start, first workflow task). */
  start: number;
  /** Waiting for → holding the stack lock. */
  lock: number;
  /** status → planning until the plan is recorded (workspace, init, plan, show, policy, cost). */
  planning: number;
  /** Plan recorded → status applying (approval gate, auto-approved here). */
  gate: number;
  /** status → applying until applyCompletedAt. */
  applying: number;
  /** applyCompletedAt → status succeeded (verification when on, state version, lock release). */
  finishing: number;
  /** completedAt → the caller's GET saw `succeeded`. */
  observed: number;
}

const PHASES: (keyof Phases)[] = ['start', 'lock', 'planning', 'gate', 'applying', 'finishing', 'observed'];

function phasesOf(d: any, postAt: number, seenAt: number): Phases {
  const at = (re: RegExp) => {
    const e = (d.events as { ts: string; message: string }[]).find((x) => re.test(x.message));
    return e ? Date.parse(e.ts) : NaN;
  };
  const first = Date.parse(d.events[0]?.ts);
  const lockAsked = at(/^waiting for the stack lock/);
  const lockHeld = at(/^stack lock acquired/);
  const planning = at(/^status → planning/);
  const planned = at(/^plan: /);
  const applying = at(/^status → applying/);
  const applied = Date.parse(d.applyCompletedAt);
  const done = Date.parse(d.completedAt);
  return {
    start: first - postAt,
    lock: lockHeld - lockAsked,
    planning: planned - planning,
    gate: applying - planned,
    applying: applied - applying,
    finishing: done - applied,
    observed: seenAt - done,
  };
}

/** Runs section 1 for each size. */
export async function rawSection(w: World, samples: number, sizes = [10, 100]): Promise<Section> {
  const rows: (string | number)[][] = [];
  const verifyRows: (string | number)[][] = [];
  const phaseRows: (string | number)[][] = [];
  const strataRun = async (stack: string, size: number, phases?: Phases[]): Promise<number> => {
    const postAt = Date.now();
    const [t, d] = await timed(async () => {
      const id = await w.api.deploy({
        stack,
        environment: ENVS.raw(size),
        variables: { file_count: size, message: `bench ${randomUUID()}` },
      });
      return w.api.finish(id);
    });
    phases?.push(phasesOf(d, postAt, Date.now()));
    return t;
  };
  for (const size of sizes) {
    const raw = await RawStack.create(w.tmp, size);
    const r: number[] = [];
    const s: number[] = [];
    const v: number[] = [];
    const p: number[] = [];
    const rp: number[] = [];
    const ra: number[] = [];
    const ph: Phases[] = [];
    const vph: Phases[] = [];
    const rawSample = async () => {
      const msg = `bench ${randomUUID()}`;
      const [t, split] = await timed(() => raw.change(size, msg));
      r.push(t);
      rp.push(split.plan);
      ra.push(split.apply);
      p.push((await timed(() => raw.noChangePlan(size, msg)))[0]);
    };
    // Warm-up: the first apply creates the files (the samples replace them), and warms caches on both sides.
    await raw.change(size, `warm ${randomUUID()}`);
    await strataRun('hello-local', size);
    await strataRun('hello-local-verified', size);
    for (let i = 0; i < samples; i++) {
      // Rotate the order so neither side always runs right after the other's disk writes.
      const steps = [
        rawSample,
        async () => void s.push(await strataRun('hello-local', size, ph)),
        async () => void v.push(await strataRun('hello-local-verified', size, vph)),
      ];
      for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]();
    }
    const [mr, ms, mv, mp] = [median(r), median(s), median(v), median(p)];
    rows.push([size, fmtMs(mr), fmtMs(ms), fmtX(ms / mr), `${((ms - mr) / 1000).toFixed(2)} s`]);
    verifyRows.push([size, fmtMs(ms), fmtMs(mv), fmtMs(mv - ms), fmtMs(mp)]);
    const m = (xs: Phases[], k: keyof Phases) => fmtMs(median(xs.map((x) => x[k])));
    phaseRows.push([`${size}, raw`, '', '', fmtMs(median(rp)), '', fmtMs(median(ra)), '', '', fmtMs(mr)]);
    phaseRows.push([`${size}, Strata`, ...PHASES.map((k) => m(ph, k)), fmtMs(ms)]);
    phaseRows.push([`${size}, Strata verified`, ...PHASES.map((k) => m(vph, k)), fmtMs(mv)]);
  }
  return {
    title: '1. Raw OpenTofu vs Strata, same change (stack hello-local)',
    body: [
      `Each sample replaces every \`local_file\` (a new \`message\`). Raw: \`tofu plan -out=p\` + \`tofu apply p\` in an`,
      `initialised temp copy, with the environment Strata gives the tool. Strata: POST /api/v1/deployments (0 approvals,`,
      `verification off) until \`GET …/:id?wait=60\` (the server's long poll) answers \`succeeded\`. Medians of ${samples} samples per side, after`,
      `one warm-up each; the sides alternate.`,
      '',
      table(['resources', 'raw tofu', 'Strata', 'ratio', 'overhead'], rows),
      '',
      `Verification (\`verify: [{type: replan}]\`, stack \`hello-local-verified\`, same path): its cost is the verified`,
      `median minus the unverified one; a raw no-change \`tofu plan\` of the applied stack is beside it.`,
      '',
      table(['resources', 'Strata unverified', 'Strata verified', 'verify cost', 'raw no-change plan'], verifyRows),
      '',
      `Where the time goes (medians per phase; Strata's from the run's events, which carry workflow-task time).`,
      `start: POST → first event; lock: waiting → acquired; planning: status planning → plan recorded (scratch`,
      `workspace, \`tofu init\` from the mirror, plan, show -json, policy, cost); gate: → applying (auto-approved);`,
      `applying: → applyCompletedAt; finishing: → succeeded (verification, state version, lock release);`,
      `observed: completedAt → the long-polled GET answered. Raw: \`tofu plan -out\` under planning, \`tofu apply\` under applying.`,
      '',
      table(['resources, side', ...PHASES, 'total'], phaseRows),
    ].join('\n'),
  };
}
