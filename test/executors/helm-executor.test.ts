/**
 * The Helm executor with a helm built from the Go module proxy (scripts/get-helm.sh) against a real kube-apiserver:
 * server-side dry-run plans, install, a values change that removes an object, the stale-plan rule, uninstall.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createHelmExecutor } from '../../src/executors/helm/helm-executor';
import type { IacExecutor, StackSpec } from '../../src/executors/types';
import { createHarness, type Harness } from '../helpers/executor-harness';
import { startKube, type KubeCluster } from '../helpers/kube';

const CHART = path.resolve(__dirname, '../../stacks/helm-demo');

let kube: KubeCluster;
let h: Harness;
let exec: IacExecutor;
let helmBin: string;
let seq = 0;

beforeAll(async () => {
  const out = execFileSync('bash', [path.resolve(__dirname, '../../scripts/get-helm.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  helmBin = out.trim().split('=')[1];
  kube = await startKube();
  exec = createHelmExecutor({ helmBin });
  h = createHarness('helm', 'helm-demo');
}, 30 * 60_000);
afterAll(async () => {
  await kube?.stop();
  h?.cleanup();
});

async function target(variables: Record<string, unknown> = {}): Promise<StackSpec> {
  const ns = `h${++seq}`;
  expect(
    (await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }))
      .status,
  ).toBe(201);
  return {
    stack: 'helm-demo',
    environment: ns,
    executor: 'helm',
    path: CHART,
    variables,
    kubernetes: { kubeconfig: kube.kubeconfig, namespace: ns },
  };
}
async function planned(spec: StackSpec, runId: string, destroy = false) {
  const c = h.context(runId, { environment: spec.environment });
  const config = await exec.prepare(spec, c.ctx);
  const plan = destroy ? await exec.planDestroy(spec, config, c.ctx) : await exec.plan(spec, config, c.ctx);
  return { plan, config, ...c };
}
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return `${err.type}: ${err.message}`;
    throw err;
  }
  throw new Error('expected a failure');
}
const get = (p: string) => kube.request('GET', p);

describe('Helm executor on a real kube-apiserver', () => {
  it('installs, upgrades with other values (pruning the Service), refuses a stale plan, uninstalls', async () => {
    const spec = await target();
    const ns = spec.environment;
    const rel = `helm-demo-${ns}`;
    const first = await planned(spec, 'i1');
    expect(first.plan).toMatchObject({ add: 3, change: 0, destroy: 0, hasChanges: true });
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/${rel}-config`)).status).toBe(404);
    const r1 = await exec.apply(spec, first.plan, first.ctx);
    expect(r1.outputs).toMatchObject({ release: rel, revision: 1 });
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/${rel}-config`)).body.data.greeting).toBe('hello from helm');
    expect((await planned(spec, 'i2')).plan.hasChanges).toBe(false);

    const v2 = { ...spec, variables: { greeting: 'v2', service: { enabled: false } } };
    const second = await planned(v2, 'u1');
    expect(second.plan.resources.map((r) => `${r.action} ${r.address}`).sort()).toEqual([
      `delete Service/${rel}`,
      `update ConfigMap/${rel}-config`,
    ]);
    // Another plan made now is stale once this one is applied (the release moves to revision 2).
    const racing = await planned(spec, 'u2');
    await exec.apply(v2, second.plan, second.ctx);
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/${rel}-config`)).body.data.greeting).toBe('v2');
    expect((await get(`/api/v1/namespaces/${ns}/services/${rel}`)).status).toBe(404);
    expect(await codeOf(exec.apply(spec, racing.plan, racing.ctx))).toMatch(/^PLAN_STALE/);

    const gone = await planned(spec, 'd1', true);
    expect(gone.plan).toMatchObject({ destroyPlan: true, destroy: 2, hasChanges: true });
    await exec.apply(spec, gone.plan, gone.ctx);
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/${rel}-config`)).status).toBe(404);
    expect((await get(`/apis/apps/v1/namespaces/${ns}/deployments/${rel}`)).status).toBe(404);
  });
});

describe('Helm executor: an interrupted apply', () => {
  it('a retry after the upgrade went through adopts the new revision instead of upgrading again', async () => {
    const spec = await target();
    const first = await planned(spec, 'x1');
    await exec.apply(spec, first.plan, first.ctx);
    const v2 = { ...spec, variables: { greeting: 'v2' } };
    const { plan, ctx } = await planned(v2, 'x2');
    // What the first attempt leaves when it dies right after `helm upgrade`: the marker in the state, and the
    // release at the next revision.
    const cur = (await h.state.getCurrentState('helm-demo', spec.environment))!;
    const body = JSON.parse(cur.body);
    await h.state.putCurrentState(
      'helm-demo',
      spec.environment,
      {
        body: JSON.stringify({
          ...body,
          serial: cur.serial + 1,
          applying: { planHash: plan.planHash, runId: 'x2', baseRevision: 1 },
        }),
        serial: cur.serial + 1,
        lineage: cur.lineage,
        updatedBy: 'x2',
      },
      { serial: cur.serial, lineage: cur.lineage },
    );
    const valuesFile = path.join(h.root, 'x2-values.json');
    fs.writeFileSync(valuesFile, JSON.stringify({ greeting: 'v2' }));
    execFileSync(
      helmBin,
      [
        'upgrade',
        '--install',
        `helm-demo-${spec.environment}`,
        CHART,
        '-f',
        valuesFile,
        '--reset-values',
        '-n',
        spec.environment,
        '--kubeconfig',
        kube.kubeconfig,
      ],
      { stdio: 'ignore' },
    );

    const retry = h.context('x2', { environment: spec.environment });
    const result = await exec.apply(v2, plan, retry.ctx);
    expect(result.outputs).toMatchObject({ revision: 2 });
    expect(retry.logs.map((l) => l.message).join('\n')).toMatch(
      /already at revision 2: the interrupted apply got through, adopting it/,
    );
    void ctx;
  });
});
