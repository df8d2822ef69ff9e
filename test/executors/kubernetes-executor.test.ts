/**
 * The Kubernetes manifests executor against a real etcd + kube-apiserver (test/helpers/kube.ts): server-side
 * dry-run plans, server-side apply, pruning by label, the stale-plan rule, readiness (set by a test controller,
 * since no controllers run), drift and destroy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createKubernetesExecutor } from '../../src/executors/kubernetes/k8s-executor';
import type { IacExecutor, StackSpec } from '../../src/executors/types';
import { createHarness, type Harness } from '../helpers/executor-harness';
import { startKube, type KubeCluster } from '../helpers/kube';

const STACK_DIR = path.resolve(__dirname, '../../stacks/k8s-demo');

let kube: KubeCluster;
let h: Harness;
let exec: IacExecutor;
let seq = 0;
let controller: NodeJS.Timeout | undefined;

beforeAll(async () => {
  kube = await startKube();
  exec = createKubernetesExecutor({ pollMs: 100 });
  h = createHarness('k8s', 'k8s-demo');
}, 25 * 60_000);
afterAll(async () => {
  if (controller) clearInterval(controller);
  await kube?.stop();
  h?.cleanup();
});

/** A namespace per test keeps objects apart; each test is its own environment. */
async function target(over: Partial<StackSpec> = {}, readinessTimeoutSeconds = 30): Promise<StackSpec> {
  const ns = `t${++seq}`;
  const r = await kube.request('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns },
  });
  expect(r.status).toBe(201);
  return {
    stack: 'k8s-demo',
    environment: ns,
    executor: 'kubernetes',
    path: STACK_DIR,
    variables: {},
    kubernetes: { kubeconfig: kube.kubeconfig, namespace: ns, readinessTimeoutSeconds },
    ...over,
  };
}

/** What a deployment controller would report: every Deployment of the namespace available at its generation. */
function runTestController(): void {
  controller = setInterval(() => {
    void (async () => {
      const list = await kube.request('GET', '/apis/apps/v1/deployments');
      for (const d of list.body.items ?? []) {
        if (d.status?.observedGeneration === d.metadata.generation) continue;
        await kube.request(
          'PATCH',
          `/apis/apps/v1/namespaces/${d.metadata.namespace}/deployments/${d.metadata.name}/status`,
          {
            status: {
              observedGeneration: d.metadata.generation,
              replicas: d.spec.replicas,
              readyReplicas: d.spec.replicas,
              availableReplicas: d.spec.replicas,
              conditions: [{ type: 'Available', status: 'True', reason: 'TestController', message: 'set by the test' }],
            },
          },
          'application/merge-patch+json',
        );
      }
    })().catch(() => undefined);
  }, 200);
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
function editedStack(edit: (files: Record<string, string>) => Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-k8s-stack-'));
  const files = Object.fromEntries(
    fs.readdirSync(STACK_DIR).map((f) => [f, fs.readFileSync(path.join(STACK_DIR, f), 'utf8')]),
  );
  for (const [f, text] of Object.entries(edit(files))) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}
const get = (p: string) => kube.request('GET', p);

describe('Kubernetes executor on a real kube-apiserver', () => {
  it('the API server answers and knows its version', async () => {
    const v = await get('/version');
    expect(v.body.gitVersion).toBe('v1.34.4');
  });

  it('plans creates by server-side dry-run, applies, waits for readiness, and a re-plan has no changes', async () => {
    runTestController();
    const spec = await target();
    const ns = spec.environment;
    const { plan, ctx, logs } = await planned(spec, 'c1');
    expect(plan).toMatchObject({ add: 3, change: 0, destroy: 0, hasChanges: true });
    expect(plan.resources.map((r) => `${r.action} ${r.address}`).sort()).toEqual([
      `create ConfigMap/${ns}/web-config`,
      `create Deployment/${ns}/web`,
      `create Service/${ns}/web`,
    ]);
    // The dry run created nothing.
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/web-config`)).status).toBe(404);

    const result = await exec.apply(spec, plan, ctx);
    expect(result.resources).toHaveLength(3);
    const cm = await get(`/api/v1/namespaces/${ns}/configmaps/web-config`);
    expect(cm.body.data).toEqual({ greeting: 'hello from strata' });
    expect(cm.body.metadata.labels).toMatchObject({ 'strata.dev/stack': 'k8s-demo', 'strata.dev/environment': ns });
    expect(cm.body.metadata.managedFields.map((m: { manager: string }) => m.manager)).toContain('strata');
    expect(logs.map((l) => l.message).join('\n')).toMatch(/Apply complete! 3 object\(s\) applied and ready/);

    const again = await planned(spec, 'c2');
    expect(again.plan).toMatchObject({ hasChanges: false, add: 0, change: 0, destroy: 0 });
  });

  it('a changed manifest plans an update, a removed one is pruned', async () => {
    const spec = await target();
    const ns = spec.environment;
    const first = await planned(spec, 'p1');
    await exec.apply(spec, first.plan, first.ctx);

    const dir = editedStack((f) => ({
      'config.yaml': f['config.yaml'].replace('hello from strata', 'hello again'),
      'web.yaml': f['web.yaml'].split('\n---\n')[0] + '\n',
    }));
    const edited = { ...spec, path: dir };
    const { plan, ctx } = await planned(edited, 'p2');
    expect(plan.resources.map((r) => `${r.action} ${r.address}`).sort()).toEqual([
      `delete Service/${ns}/web`,
      `update ConfigMap/${ns}/web-config`,
    ]);
    await exec.apply(edited, plan, ctx);
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/web-config`)).body.data.greeting).toBe('hello again');
    expect((await get(`/api/v1/namespaces/${ns}/services/web`)).status).toBe(404);
  });

  it('refuses a plan when an object changed since (PLAN_STALE) and a tampered plan', async () => {
    const spec = await target();
    const ns = spec.environment;
    const first = await planned(spec, 's1');
    await exec.apply(spec, first.plan, first.ctx);
    const dir = editedStack((f) => ({ ...f, 'config.yaml': f['config.yaml'].replace('hello from strata', 'v2') }));
    const edited = { ...spec, path: dir };
    const p = await planned(edited, 's2');
    await kube.request(
      'PATCH',
      `/api/v1/namespaces/${ns}/configmaps/web-config`,
      { data: { greeting: 'by hand' } },
      'application/merge-patch+json',
    );
    expect(await codeOf(exec.apply(edited, p.plan, p.ctx))).toMatch(
      new RegExp(`^PLAN_STALE: ConfigMap/${ns}/web-config changed since the plan`),
    );

    const q = await planned(edited, 's3');
    await h.artifacts.put(q.plan.planRef, (await h.artifacts.get(q.plan.planRef)).toString().replace('"v2"', '"v3"'));
    expect(await codeOf(exec.apply(edited, q.plan, q.ctx))).toMatch(/^PLAN_HASH_MISMATCH/);
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/web-config`)).body.data.greeting).toBe('by hand');
  });

  it('drift: an object edited by hand, then one deleted by hand', async () => {
    const spec = await target();
    const ns = spec.environment;
    const { plan, ctx, config } = await planned(spec, 'd1');
    await exec.apply(spec, plan, ctx);
    expect(await exec.detectDrift(spec, config, ctx)).toMatchObject({ drifted: false });
    await kube.request(
      'PATCH',
      `/api/v1/namespaces/${ns}/configmaps/web-config`,
      { data: { greeting: 'by hand' } },
      'application/merge-patch+json',
    );
    await kube.request('DELETE', `/api/v1/namespaces/${ns}/services/web`);
    const report = await exec.detectDrift(spec, config, ctx);
    expect(report.resources.map((r) => `${r.change} ${r.address}`).sort()).toEqual([
      `deleted Service/${ns}/web`,
      `modified ConfigMap/${ns}/web-config`,
    ]);
  });

  it('destroy deletes every object of the stack', async () => {
    const spec = await target();
    const ns = spec.environment;
    const first = await planned(spec, 'z1');
    await exec.apply(spec, first.plan, first.ctx);
    const { plan, ctx } = await planned(spec, 'z2', true);
    expect(plan).toMatchObject({ destroyPlan: true, destroy: 3, add: 0 });
    await exec.apply(spec, plan, ctx);
    expect((await get(`/api/v1/namespaces/${ns}/configmaps/web-config`)).status).toBe(404);
    expect((await get(`/api/v1/namespaces/${ns}/services/web`)).status).toBe(404);
  });

  it('an object that never becomes ready fails the apply after the readiness timeout, with the state recorded', async () => {
    if (controller) clearInterval(controller);
    controller = undefined;
    const spec = await target({}, 2);
    const { plan, ctx } = await planned(spec, 'r1');
    expect(await codeOf(exec.apply(spec, plan, ctx))).toMatch(
      new RegExp(
        `^APPLY_FAILED: not ready after 2s: Deployment/${spec.environment}/web \\(condition Available is not True\\)`,
      ),
    );
    const snap = await exec.snapshotState(spec, ctx);
    expect(snap.resources).toHaveLength(3);
  });
});

describe('Kubernetes executor: an interrupted apply', () => {
  it('a retry of a plan whose apply died half-way re-applies it and converges instead of refusing it as stale', async () => {
    const spec = await target({}, 5);
    const ns = spec.environment;
    const { plan } = await planned(spec, 'k1');
    // The first attempt stored its marker, applied the ConfigMap and died before the rest.
    await h.state.putCurrentState(
      'k8s-demo',
      ns,
      {
        body: JSON.stringify({
          format: 'strata-k8s-state/1',
          serial: 1,
          lineage: 'l-k1',
          objects: [],
          outputs: {},
          applying: { planHash: plan.planHash, runId: 'k1' },
        }),
        serial: 1,
        lineage: 'l-k1',
        updatedBy: 'k1',
      },
      'absent',
    );
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'web-config',
        namespace: ns,
        labels: { 'strata.dev/stack': 'k8s-demo', 'strata.dev/environment': ns },
      },
      data: { greeting: 'hello from strata' },
    };
    expect((await kube.request('POST', `/api/v1/namespaces/${ns}/configmaps`, cm)).status).toBe(201);

    runTestController();
    const retry = h.context('k1', { environment: ns });
    const result = await exec.apply(spec, plan, retry.ctx);
    expect(result.resources.map((r) => r.address).sort()).toEqual([
      `ConfigMap/${ns}/web-config`,
      `Deployment/${ns}/web`,
      `Service/${ns}/web`,
    ]);
    expect(retry.logs.map((l) => l.message).join('\n')).toMatch(/resuming the unfinished apply of this plan/);
    expect((await planned(spec, 'k2')).plan.hasChanges).toBe(false);
  });
});
