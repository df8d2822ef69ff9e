/**
 * `npm run bench`: Strata measured side by side with what it orchestrates, in one run, on this machine.
 *
 * Everything is real: a private Temporal dev server on a free port, the Strata worker as its own child process
 * (`node --import tsx src/worker/main.ts` with a generated config file, so its RSS is its own), the API in this
 * process over HTTP on loopback, OpenTofu and its provider mirror from ~/.cache/strata/tools.env. It measures
 * whatever code is checked out. Sections (in run order):
 *
 *   raw         hello-local at 10 and 100 files: raw `tofu plan -out` + `tofu apply` vs a Strata deployment of the
 *               same change (POST to `succeeded`, verification off), alternating; ratio and overhead. Plus the
 *               re-plan verification's own cost next to a raw no-change `tofu plan`.
 *   throughput  completions/s of a trivial one-activity workflow on bare Temporal vs sim-multicloud deployments
 *               over HTTP, 50 in flight each, and the ratio.
 *   approval    POST /deployments/:id/approve round trip (p50/p99) over runs waiting at a 1-approval gate.
 *   failover    a planned failover of the simulated group `web`: each stage's duration and the RTO.
 *   open        1,000 runs open at approval: worker RSS, GET /deployments/:id p99, POST /deployments p99 at 20
 *               in flight. Runs last: its open runs are left for the teardown.
 *
 * Run:   npm run bench                                     (all sections, ~10 min on 2 cores)
 *        BENCH_ONLY=raw,failover BENCH_SAMPLES=3 npm run bench   (some sections, fewer samples)
 * Knobs: BENCH_SAMPLES (raw and failover samples per side, default 7), BENCH_THROUGHPUT (completions, 200),
 *        BENCH_APPROVALS (100), BENCH_OPEN (open runs, 1000), BENCH_READS (200), BENCH_POSTS (200),
 *        BENCH_COMPILED=1 (both sides' workers run tsc's JavaScript, as the container image does, not tsx).
 * Output: a markdown report on stdout and in bench/results/<YYYY-MM-DD>.md (a BENCH_ONLY run writes
 * <YYYY-MM-DD>-<sections>.md instead, so it never overwrites the day's full report).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { resolveTofuBin } from '../src/executors/tofu/tool-env';
import { resolveTools } from '../src/shared/tools';
import { approvalSection } from './approvals';
import { failoverSection } from './failover';
import { ROOT, startWorld, workersCompiled, type Section, type World } from './harness';
import { openRunsSection } from './open-runs';
import { rawSection } from './raw';
import { throughputSection } from './throughput';

const SECTIONS = ['raw', 'throughput', 'approval', 'failover', 'open'] as const;
type SectionName = (typeof SECTIONS)[number];
const REPORT_ORDER: SectionName[] = ['raw', 'throughput', 'approval', 'open', 'failover'];

function intEnv(name: string, dflt: number): number {
  const v = process.env[name];
  if (!v) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

function selected(): SectionName[] {
  const only = process.env.BENCH_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!only?.length) return [...SECTIONS];
  const bad = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (bad.length) throw new Error(`BENCH_ONLY: unknown section(s) ${bad.join(', ')} (known: ${SECTIONS.join(', ')})`);
  return SECTIONS.filter((s) => only.includes(s));
}

function version(cmd: string, args: string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return (
      out
        .split('\n')
        .find((l) => l.trim())
        ?.trim() ?? 'unknown'
    );
  } catch {
    return 'unknown';
  }
}

function machine(): string[] {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const tools = resolveTools();
  const commit = version('git', ['-C', ROOT, 'log', '-1', '--format=%h %s']);
  let dirty = '';
  try {
    if (execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim())
      dirty = ' (with uncommitted changes)';
  } catch {
    // Not a git checkout: the commit line says unknown.
  }
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- Machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at start`,
    `- Node ${process.version}; Temporal CLI: ${version(tools.TEMPORAL_CLI!, ['--version'])}; ${version(resolveTofuBin({}), ['version'])}`,
    `- Code: ${commit}${dirty}`,
  ];
}

async function main(): Promise<void> {
  process.env.LOG_LEVEL ??= 'silent';
  const tools = resolveTools();
  // readTools already let an environment value win where it names a file that exists; a stale one (some shells
  // export TF_CLI_CONFIG_FILE=~/.terraformrc) must not reach the raw side or the worker.
  for (const [k, v] of Object.entries(tools)) if (v) process.env[k] = v;
  const which = selected();
  const header = machine();
  const samples = intEnv('BENCH_SAMPLES', 7);
  const throughput = intEnv('BENCH_THROUGHPUT', 200);
  const approvals = intEnv('BENCH_APPROVALS', 100);
  const open = intEnv('BENCH_OPEN', 1000);
  const reads = intEnv('BENCH_READS', 200);
  const posts = intEnv('BENCH_POSTS', 200);
  const width = 50;
  const t0 = performance.now();

  const world: World = await startWorld({
    throughput: which.includes('throughput') ? width : 0,
    approval: which.includes('approval') ? approvals : 0,
    open: which.includes('open') ? open : 0,
  });
  const sections: { name: SectionName; section: Section }[] = [];
  const timings: string[] = [];
  try {
    const runners: Record<SectionName, () => Promise<Section>> = {
      raw: () => rawSection(world, samples),
      throughput: () => throughputSection(world, throughput, width),
      approval: () => approvalSection(world, approvals),
      failover: () => failoverSection(world, samples),
      open: () => openRunsSection(world, open, reads, posts),
    };
    for (const name of which) {
      const t = performance.now();
      process.stderr.write(`bench: ${name}…\n`);
      try {
        sections.push({ name, section: await runners[name]() });
      } catch (err) {
        // One broken section should not cost the others' numbers.
        sections.push({
          name,
          section: { title: `${name}: FAILED`, body: '```\n' + String((err as Error).stack ?? err) + '\n```' },
        });
        process.stderr.write(
          `bench: ${name} failed: ${(err as Error).message}\nworker output:\n${world.worker.tail()}\n`,
        );
      }
      timings.push(`${name} ${((performance.now() - t) / 1000).toFixed(0)} s`);
    }
  } finally {
    await world.stop();
  }

  const date = new Date().toISOString().slice(0, 10);
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  const report = [
    `# Strata benchmark ${date}`,
    '',
    ...header,
    `- Command: \`${env}npm run bench\` (sections: ${which.join(', ')}; took ${((performance.now() - t0) / 1000).toFixed(0)} s: ${timings.join(', ')})`,
    `- Setup: private Temporal dev server (in-memory SQLite), Strata worker as its own process, API over HTTP on`,
    `  loopback in the bench process, payloads encrypted (codec on, as the quick start ships), API rate limit off.`,
    `  Workers (Strata's and the bare one) run ${workersCompiled() ? "tsc's compiled JavaScript (BENCH_COMPILED=1)" : 'from source through tsx, as `npm start` runs them'}.`,
    '',
    // Numbered as documented (open runs are section 4), though they run last.
    ...REPORT_ORDER.flatMap((n) => sections.filter((s) => s.name === n)).flatMap(({ section: s }) => [
      `## ${s.title}`,
      '',
      s.body,
      '',
    ]),
  ].join('\n');
  console.log(report);
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const name = process.env.BENCH_ONLY ? `${date}-${which.join('-')}.md` : `${date}.md`;
  fs.writeFileSync(path.join(dir, name), report);
  process.stderr.write(`bench: report written to bench/results/${name}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
