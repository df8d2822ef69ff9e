/**
 * assessPlan on a worker without an opa binary (a fresh machine still building OPA): the shipped policies are judged
 * by their committed Wasm bundle at once, with the findings OPA gives; policies that differ from the bundle's sources
 * are not, and fail closed as before when no OPA is coming. With an opa binary, real OPA judges, always.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { PlanSummary } from '../../src/contracts/iac';
import type { PlanAssessment, PolicyResult } from '../../src/contracts/policy';
import { createPolicyActivities, type AssessPlanInput } from '../../src/activities/policy';
import { SHIPPED_WASM_DIR } from '../../src/activities/policy/wasm';
import { toolsBuildFile } from '../../src/shared/tools';
import { createStores } from '../../src/store';
import { createFsRunLog } from '../../src/store/run-log';
import { poll } from '../helpers/poll';
import { testConfig } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

const realOpa = toolPath('OPA_BIN');
const config = testConfig({});
const tmp = config.workDir.replace(/\/work$/, '');
const stores = createStores(config.stateStore, config.artifactsDir);
const runLog = createFsRunLog(config.artifactsDir);
const shippedDir = config.policy.dir;
const env = new MockActivityEnvironment();
// A cache of this test's own: no tools build is running unless a test says so.
const savedCache = process.env.STRATA_CACHE;
beforeAll(() => {
  process.env.STRATA_CACHE = path.join(tmp, 'cache');
  fs.mkdirSync(process.env.STRATA_CACHE, { recursive: true });
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.STRATA_CACHE;
  else process.env.STRATA_CACHE = savedCache;
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A tools build at its OPA step: this process stands for scripts/get-tools.sh. */
function writeBuildStatus(): void {
  fs.writeFileSync(
    toolsBuildFile(),
    JSON.stringify({
      pid: process.pid,
      startedAt: Date.now(),
      stepStartedAt: Date.now(),
      step: 2,
      steps: 6,
      tool: 'opa',
      label: 'OPA v1.22.4',
      labels: { opa: 'OPA v1.22.4' },
    }),
  );
}

let n = 0;
/** A simulated plan creating a public bucket, stored as the simulated executor stores it. */
async function publicBucketPlan(): Promise<AssessPlanInput> {
  const runId = `run-wasm-${++n}`;
  const planRef = `runs/${runId}/plan.json`;
  const after = {
    address: 'aws_bucket.assets',
    type: 'aws_bucket',
    provider: 'aws',
    attributes: { acl: 'public-read' },
  };
  await stores.artifacts.put(
    planRef,
    JSON.stringify({ changes: [{ ...after, action: 'create', after }], outputChanges: [] }),
  );
  const plan: PlanSummary = {
    planRef,
    planHash: 'a'.repeat(64),
    add: 1,
    change: 0,
    destroy: 0,
    hasChanges: true,
    destroyPlan: false,
    resources: [{ address: 'aws_bucket.assets', type: 'aws_bucket', action: 'create' }],
    stateSerial: 0,
    stateLineage: '',
    config: { ref: `runs/${runId}/config.json`, digest: 'd', executor: 'simulated', variables: {} },
  } as PlanSummary;
  return { runId, stack: 'sim-multicloud', environment: 'dev', kind: 'deploy', requestedBy: 'alice', plan };
}

const activitiesFor = (dir: string, opaBin: () => string | undefined) =>
  createPolicyActivities({
    config: { policy: { ...config.policy, dir } },
    artifacts: stores.artifacts,
    state: stores.state,
    runLog,
    opaBin,
  });
const assess = (a: { assessPlan: (t: AssessPlanInput) => Promise<PlanAssessment> }, t: AssessPlanInput) =>
  env.run(a.assessPlan, t) as Promise<PlanAssessment>;
const messages = (runId: string) => runLog.read(runId).items.map((i) => i.message);
const publicBucketDeny: PolicyResult = {
  policy: 'no_public_buckets',
  rule: 'public_bucket',
  level: 'deny',
  message: 'aws_bucket.assets would be public (acl public-read)',
};

describe('assessPlan without an opa binary', () => {
  it('judges the shipped policies by their Wasm bundle at once, as OPA would', async () => {
    const wasmed = activitiesFor(shippedDir, () => undefined);
    const t = await publicBucketPlan();
    const started = Date.now();
    const assessment = await assess(wasmed, t);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(assessment.policy?.results).toEqual([publicBucketDeny]);
    expect(messages(t.runId)).toContain(
      'shipped policies judged by their compiled Wasm bundle (OPA 1.22.4, same sources) because this worker has no opa binary',
    );
    // The same plan judged by the real OPA.
    const real = await assess(
      activitiesFor(shippedDir, () => realOpa),
      await publicBucketPlan(),
    );
    expect(real.policy).toEqual(assessment.policy);

    // A second plan reuses the loaded bundle; the log says why OPA was not used while a build is running.
    writeBuildStatus();
    try {
      const again = await publicBucketPlan();
      expect((await assess(wasmed, again)).policy?.results).toEqual([publicBucketDeny]);
      expect(messages(again.runId).filter((m) => m.includes('Wasm'))).toEqual([
        'shipped policies judged by their compiled Wasm bundle (OPA 1.22.4, same sources) because OPA is still being built on this worker',
      ]);
      expect(messages(again.runId).filter((m) => m.startsWith('waiting for'))).toEqual([]);
    } finally {
      fs.rmSync(toolsBuildFile(), { force: true });
    }
  });

  it('does not use the bundle for other policies: they fail closed when no OPA is coming', async () => {
    const copy = fs.mkdtempSync(path.join(tmp, 'policies-'));
    fs.cpSync(shippedDir, copy, { recursive: true });
    const activities = activitiesFor(copy, () => undefined);
    // Identical files: the bundle applies to a copy too.
    const same = await publicBucketPlan();
    expect((await assess(activities, same)).policy?.results).toEqual([publicBucketDeny]);

    // One policy edited (the bucket rule switched off): the bundle no longer stands for these policies.
    const file = path.join(copy, 'no_public_buckets.rego');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('public_acls[rc.after.acl]', 'false'));
    const edited = await publicBucketPlan();
    const results = (await assess(activities, edited)).policy?.results;
    expect(results).toEqual([
      {
        policy: 'strata',
        rule: 'evaluation_failed',
        level: 'deny',
        message: 'policies could not be evaluated: no opa binary (OPA_BIN in tools.env; run scripts/get-tools.sh)',
      },
    ]);
    expect(messages(edited.runId).filter((m) => m.includes('Wasm'))).toEqual([]);

    // Edited back byte for byte: the bundle applies again.
    fs.cpSync(path.join(shippedDir, 'no_public_buckets.rego'), file);
    expect((await assess(activities, await publicBucketPlan())).policy?.results).toEqual([publicBucketDeny]);
  });

  it('other policies wait for the OPA being built, then real OPA judges them', async () => {
    const copy = fs.mkdtempSync(path.join(tmp, 'policies-'));
    fs.cpSync(shippedDir, copy, { recursive: true });
    const file = path.join(copy, 'no_public_buckets.rego');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('public_acls[rc.after.acl]', 'false'));
    let opa: string | undefined;
    const activities = activitiesFor(copy, () => opa);
    writeBuildStatus();
    try {
      const t = await publicBucketPlan();
      const assessing = assess(activities, t);
      await poll(() => messages(t.runId).some((m) => m.startsWith('waiting for OPA v1.22.4 to finish building')), {
        what: 'the plan to wait for OPA',
        timeoutMs: 10_000,
        everyMs: 50,
      });
      opa = realOpa;
      // The edited policy no longer denies the bucket: judged by OPA over these files, not by the bundle.
      expect((await assessing).policy?.results).toEqual([]);
      expect(messages(t.runId).filter((m) => m.includes('Wasm'))).toEqual([]);
    } finally {
      fs.rmSync(toolsBuildFile(), { force: true });
    }
  });

  it('fails closed when the bundle cannot be loaded', async () => {
    const broken = fs.mkdtempSync(path.join(tmp, 'wasm-'));
    fs.cpSync(SHIPPED_WASM_DIR, broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'policy.wasm'), 'not wasm');
    const activities = createPolicyActivities({
      config: { policy: config.policy },
      artifacts: stores.artifacts,
      state: stores.state,
      runLog,
      opaBin: () => undefined,
      wasmBundleDir: broken,
    });
    const results = (await assess(activities, await publicBucketPlan())).policy?.results;
    expect(results).toHaveLength(1);
    expect(results![0]).toMatchObject({ policy: 'strata', rule: 'evaluation_failed', level: 'deny' });
    expect(results![0].message).toMatch(/policy\.wasm or data\.json does not match manifest\.json/);
  });

  it('with an opa binary, real OPA judges even the shipped policies', async () => {
    // A bundle that cannot load (no policy.wasm): were it asked, the plan would fail closed.
    const t = await publicBucketPlan();
    const bogus = path.join(tmp, 'nowhere-wasm');
    const activities = createPolicyActivities({
      config: { policy: config.policy },
      artifacts: stores.artifacts,
      state: stores.state,
      runLog,
      opaBin: () => realOpa,
      wasmBundleDir: bogus,
    });
    fs.mkdirSync(bogus, { recursive: true });
    fs.cpSync(path.join(SHIPPED_WASM_DIR, 'manifest.json'), path.join(bogus, 'manifest.json'));
    expect((await assess(activities, t)).policy?.results).toEqual([publicBucketDeny]);
    expect(messages(t.runId).filter((m) => m.includes('Wasm'))).toEqual([]);
  });
});
