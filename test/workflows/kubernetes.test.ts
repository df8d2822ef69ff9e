/**
 * A Kubernetes manifests stack through the HTTP API, with a real Temporal server and a real kube-apiserver: deploy
 * (approved by plan hash), a change that prunes an object, Strata's rollback to the first version and destroy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKube, type KubeCluster } from '../helpers/kube';
import { testConfig, useStrata } from '../helpers/temporal';

describe('Kubernetes manifests through the HTTP API (kube-apiserver)', () => {
  const config = testConfig();
  // A copy of the demo stack: the test edits it between versions.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-k8s-api-'));
  const demo = path.resolve(__dirname, '../../stacks/k8s-demo');
  for (const f of fs.readdirSync(demo)) fs.copyFileSync(path.join(demo, f), path.join(dir, f));
  config.stacks['k8s-demo'] = {
    executor: 'kubernetes',
    path: dir,
    variables: {},
    verify: [],
    kubernetes: { kubeconfig: '/nonexistent', namespace: 'default', readinessTimeoutSeconds: 60 }, // set below
  };
  let kube: KubeCluster;
  let controller: NodeJS.Timeout;
  beforeAll(async () => {
    kube = await startKube();
    config.stacks['k8s-demo'].kubernetes!.kubeconfig = kube.kubeconfig;
    // No controllers run: report every Deployment available at its generation, as the deployment controller would.
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
                conditions: [{ type: 'Available', status: 'True', reason: 'Test' }],
              },
            },
            'application/merge-patch+json',
          );
        }
      })().catch(() => undefined);
    }, 200);
  }, 25 * 60_000);
  afterAll(async () => {
    clearInterval(controller);
    await kube?.stop();
  });
  const s = useStrata(config);
  const get = (p: string) => kube.request('GET', p);
  const approveAndWait = async (id: string) => {
    const waiting = await s.http.waitFor(id, ['awaiting_approval']);
    expect(
      (await s.http.post('bob', `/api/v1/deployments/${id}/approve`, { planHash: waiting.plan!.planHash })).status,
    ).toBe(200);
    return { waiting, done: await s.http.waitFor(id, ['succeeded']) };
  };

  it('deploys, prunes a removed object, rolls back to v1 and destroys', async () => {
    const v1 = await s.http.deploy('alice', { stack: 'k8s-demo', environment: 'staging' });
    const first = await approveAndWait(v1);
    expect(first.waiting.plan).toMatchObject({ add: 3, change: 0, destroy: 0 });
    expect((await get('/api/v1/namespaces/default/services/web')).status).toBe(200);

    // v2: the Service is gone from the manifests and the greeting changes.
    fs.writeFileSync(
      path.join(dir, 'web.yaml'),
      fs.readFileSync(path.join(demo, 'web.yaml'), 'utf8').split('\n---\n')[0] + '\n',
    );
    fs.writeFileSync(
      path.join(dir, 'config.yaml'),
      fs.readFileSync(path.join(demo, 'config.yaml'), 'utf8').replace('hello from strata', 'v2'),
    );
    const v2 = await s.http.deploy('alice', { stack: 'k8s-demo', environment: 'staging' });
    const second = await approveAndWait(v2);
    expect(second.waiting.plan).toMatchObject({ add: 0, change: 1, destroy: 1 });
    expect((await get('/api/v1/namespaces/default/services/web')).status).toBe(404);
    expect((await get('/api/v1/namespaces/default/configmaps/web-config')).body.data.greeting).toBe('v2');

    // Rollback to v1 re-plans v1's recorded manifests (the directory still holds v2's).
    const rb = await s.http.post('alice', '/api/v1/stacks/k8s-demo/environments/staging/rollback', {
      targetVersion: 1,
    });
    expect(rb.status).toBe(202);
    const back = await approveAndWait(rb.body.id);
    expect(back.waiting.plan).toMatchObject({ add: 1, change: 1, destroy: 0 });
    expect(back.done).toMatchObject({ kind: 'rollback', targetVersion: 1 });
    expect((await get('/api/v1/namespaces/default/services/web')).status).toBe(200);
    expect((await get('/api/v1/namespaces/default/configmaps/web-config')).body.data.greeting).toBe(
      'hello from strata',
    );

    const del = await s.http.post('alice', '/api/v1/stacks/k8s-demo/environments/staging/destroy', {
      reason: 'teardown',
    });
    const gone = await approveAndWait(del.body.id);
    expect(gone.waiting.plan).toMatchObject({ destroy: 3 });
    for (const p of [
      '/api/v1/namespaces/default/services/web',
      '/api/v1/namespaces/default/configmaps/web-config',
      '/apis/apps/v1/namespaces/default/deployments/web',
    ]) {
      expect((await get(p)).status).toBe(404);
    }
  });
});
