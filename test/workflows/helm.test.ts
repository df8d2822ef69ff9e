/**
 * A Helm chart through the HTTP API, with a real Temporal server, a real kube-apiserver and helm built from the Go
 * module proxy: install (approved by plan hash), a values change, Strata's rollback to the first version (its
 * recorded chart and values, planned and upgraded again, not `helm rollback`) and destroy.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startKube, type KubeCluster } from '../helpers/kube';
import { testConfig, useStrata } from '../helpers/temporal';

describe('Helm chart through the HTTP API (kube-apiserver)', () => {
  const config = testConfig();
  config.stacks['helm-demo'] = {
    executor: 'helm',
    path: path.resolve(__dirname, '../../stacks/helm-demo'),
    variables: {},
    verify: [],
    kubernetes: { kubeconfig: '/nonexistent', namespace: 'default', readinessTimeoutSeconds: 60 }, // set below
  };
  let kube: KubeCluster;
  beforeAll(async () => {
    const out = execFileSync('bash', [path.resolve(__dirname, '../../scripts/get-helm.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 20 * 60_000,
    });
    process.env.HELM_BIN = out.trim().split('=')[1];
    kube = await startKube();
    config.stacks['helm-demo'].kubernetes!.kubeconfig = kube.kubeconfig;
  }, 30 * 60_000);
  afterAll(() => kube?.stop());
  const s = useStrata(config);
  const get = (p: string) => kube.request('GET', p);
  const cm = '/api/v1/namespaces/default/configmaps/helm-demo-staging-config';
  const svc = '/api/v1/namespaces/default/services/helm-demo-staging';
  const approveAndWait = async (id: string) => {
    const waiting = await s.http.waitFor(id, ['awaiting_approval']);
    expect(
      (await s.http.post('bob', `/api/v1/deployments/${id}/approve`, { planHash: waiting.plan!.planHash })).status,
    ).toBe(200);
    return { waiting, done: await s.http.waitFor(id, ['succeeded']) };
  };

  it('installs, changes values, rolls back to v1 and uninstalls', async () => {
    const v1 = await approveAndWait(await s.http.deploy('alice', { stack: 'helm-demo', environment: 'staging' }));
    expect(v1.waiting.plan).toMatchObject({ add: 3 });
    expect(v1.done.outputs).toMatchObject({ release: 'helm-demo-staging', revision: 1 });
    expect((await get(cm)).body.data.greeting).toBe('hello from helm');

    const v2 = await approveAndWait(
      await s.http.deploy('alice', {
        stack: 'helm-demo',
        environment: 'staging',
        variables: { greeting: 'v2', service: { enabled: false } },
      }),
    );
    expect(v2.waiting.plan).toMatchObject({ add: 0, change: 1, destroy: 1 });
    expect((await get(cm)).body.data.greeting).toBe('v2');
    expect((await get(svc)).status).toBe(404);

    const rb = await s.http.post('alice', '/api/v1/stacks/helm-demo/environments/staging/rollback', {
      targetVersion: 1,
    });
    expect(rb.status).toBe(202);
    const back = await approveAndWait(rb.body.id);
    expect(back.waiting.plan).toMatchObject({ add: 1, change: 1, destroy: 0 });
    expect(back.done).toMatchObject({ kind: 'rollback', targetVersion: 1, outputs: { revision: 3 } });
    expect((await get(cm)).body.data.greeting).toBe('hello from helm');
    expect((await get(svc)).status).toBe(200);

    const del = await s.http.post('alice', '/api/v1/stacks/helm-demo/environments/staging/destroy', {
      reason: 'teardown',
    });
    const gone = await approveAndWait(del.body.id);
    expect(gone.waiting.plan).toMatchObject({ destroy: 3 });
    expect((await get(cm)).status).toBe(404);
  });
});
