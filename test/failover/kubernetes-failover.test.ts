/**
 * FailoverWorkflow with `provider: kubernetes` end to end: a Temporal dev server, moto (DynamoDB global state) and
 * two real kube-apiservers (each with its own etcd) holding the real CRDs of csi-addons VolumeReplication, Istio
 * VirtualService and Flux Kustomization/HelmRelease (test/fixtures/crds). Nothing reconciles on a bare API server,
 * so test/helpers/kube-controller.ts plays the kube-controller-manager and the csi-addons controller: it writes
 * readyReplicas and VolumeReplication status as those would. The failover code itself only reads statuses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import YAML from 'yaml';
import { createAwsClients, type AwsFailoverClients } from '../../src/activities/cloud/aws';
import { createKubernetesFailoverActivities } from '../../src/activities/cloud/kubernetes';
import { FORMER_REPLICAS } from '../../src/activities/cloud/kubernetes/objects';
import type { OpContext } from '../../src/activities/cloud/failover-cloud';
import { FAILOVER_STAGES } from '../../src/contracts/failover';
import type { FailoverGroupConfig } from '../../src/shared/config';
import { parseGroup } from '../helpers/failover-fixture';
import {
  failoverInput,
  startFailover,
  startFailoverWorker,
  until,
  waitForStatus,
  type FailoverWorker,
} from '../helpers/failover-worker';
import { startKubeClusters, type KubeCluster } from '../helpers/kube';
import { startTestController, type TestController } from '../helpers/kube-controller';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';
import { startTemporal } from '../helpers/temporal';

const CRD_DIR = path.resolve(__dirname, '../fixtures/crds');
const HOSTS = { primary: 'shop.primary.global', secondary: 'shop.secondary.global' };
const PART_OF = 'app.kubernetes.io/part-of';

type Side = 'primary' | 'secondary';

/** Creates one object through the REST API; anything but 201 fails the test with the server's message. */
async function create(c: KubeCluster, urlPath: string, body: unknown): Promise<void> {
  const r = await c.request('POST', urlPath, body);
  if (r.status !== 201) throw new Error(`POST ${urlPath}: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
}

async function get(c: KubeCluster, urlPath: string): Promise<any> {
  const r = await c.request('GET', urlPath);
  if (r.status !== 200) throw new Error(`GET ${urlPath}: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
  return r.body;
}

/** Installs every CRD fixture and waits until each is Established and served. */
async function installCrds(c: KubeCluster): Promise<void> {
  const names: string[] = [];
  for (const file of fs.readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(CRD_DIR, file), 'utf8'))) {
      const crd = doc.toJSON() as { metadata: { name: string } } | null;
      if (!crd) continue;
      await create(c, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      names.push(crd.metadata.name);
    }
  }
  for (const name of names)
    await until(async () => {
      const crd = await get(c, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      return crd.status?.conditions?.some((x: any) => x.type === 'Established' && x.status === 'True');
    }, `CRD ${name} to be established`);
}

const labels = { [PART_OF]: 'shop' };
const podTemplate = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: app, image: 'registry.example/shop:1' }] },
});

/** The group's objects in one cluster: the active side runs and replicates, the standby is scaled down and suspended. */
async function seed(c: KubeCluster, ns: string, active: boolean): Promise<void> {
  await create(c, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const apps = `/apis/apps/v1/namespaces/${ns}`;
  await create(c, `${apps}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels },
    spec: { replicas: active ? 3 : 0, selector: { matchLabels: { app: 'web' } }, template: podTemplate('web') },
  });
  // Not part of the group (no label): a failover must leave it alone.
  await create(c, `${apps}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'unrelated' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'unrelated' } }, template: podTemplate('unrelated') },
  });
  await create(c, `${apps}/statefulsets`, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', labels },
    spec: {
      replicas: active ? 2 : 0,
      serviceName: 'db',
      selector: { matchLabels: { app: 'db' } },
      template: podTemplate('db'),
    },
  });
  await create(c, `/apis/batch/v1/namespaces/${ns}/cronjobs`, {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'report', labels },
    spec: {
      schedule: '*/5 * * * *',
      suspend: !active,
      jobTemplate: {
        spec: {
          template: {
            spec: { restartPolicy: 'OnFailure', containers: [{ name: 'report', image: 'registry.example/report:1' }] },
          },
        },
      },
    },
  });
  await create(c, `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations`, {
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: { name: 'shop', labels },
    spec: {
      interval: '5m',
      prune: true,
      path: './deploy/shop',
      sourceRef: { kind: 'GitRepository', name: 'shop' },
      suspend: !active,
    },
  });
  await create(c, `/apis/helm.toolkit.fluxcd.io/v2/namespaces/${ns}/helmreleases`, {
    apiVersion: 'helm.toolkit.fluxcd.io/v2',
    kind: 'HelmRelease',
    metadata: { name: 'cache', labels },
    spec: { interval: '10m', chartRef: { kind: 'OCIRepository', name: 'cache' }, suspend: !active },
  });
  for (const pvc of ['data-db-0', 'data-db-1'])
    await create(c, `/apis/replication.storage.openshift.io/v1alpha1/namespaces/${ns}/volumereplications`, {
      apiVersion: 'replication.storage.openshift.io/v1alpha1',
      kind: 'VolumeReplication',
      metadata: { name: pvc, labels },
      spec: {
        volumeReplicationClass: 'rbd-volumereplicationclass',
        replicationState: active ? 'primary' : 'secondary',
        dataSource: { kind: 'PersistentVolumeClaim', name: pvc },
        autoResync: false,
      },
    });
  await create(c, `/apis/networking.istio.io/v1beta1/namespaces/${ns}/virtualservices`, {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: { name: 'shop', labels },
    spec: {
      hosts: ['shop.example.com'],
      http: [
        {
          name: 'shop',
          route: [
            { destination: { host: HOSTS.primary, port: { number: 80 } }, weight: 100 },
            { destination: { host: HOSTS.secondary, port: { number: 80 } }, weight: 0 },
          ],
        },
      ],
    },
  });
}

describe('FailoverWorkflow on Kubernetes (two kube-apiservers + moto + Temporal dev server)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let kube: Record<Side, KubeCluster>;
  let worker: FailoverWorker;
  let aws: AwsFailoverClients;
  const controllers: Partial<Record<Side, TestController>> = {};
  const taskQueue = `failover-k8s-${randomUUID()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-k8s-failover-'));
  const groups: Record<string, FailoverGroupConfig> = {};
  const ns = {
    planned: 'shop-planned',
    injected: 'shop-injected',
    emergency: 'shop-emergency',
    splitBrain: 'shop-split-brain',
    crash: 'shop-crash',
  };
  const nameOf = (k: keyof typeof ns) => `${ns[k]}-${randomBytes(2).toString('hex')}`;
  const names = {
    planned: nameOf('planned'),
    injected: nameOf('injected'),
    emergency: nameOf('emergency'),
    splitBrain: nameOf('splitBrain'),
    crash: nameOf('crash'),
  };
  const table = `strata-failover-k8s-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    let clusters: KubeCluster[];
    [env, moto, clusters] = await Promise.all([startTemporal(), startMoto(), startKubeClusters(2)]);
    kube = { primary: clusters[0], secondary: clusters[1] };
    aws = createAwsClients({ endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
    // The primary is named by server + CA file + token file, the secondary by a kubeconfig: both config forms.
    fs.writeFileSync(path.join(dir, 'primary-ca.pem'), kube.primary.ca);
    fs.writeFileSync(path.join(dir, 'primary-token'), kube.primary.token, { mode: 0o600 });
    for (const side of ['primary', 'secondary'] as const) {
      await installCrds(kube[side]);
      // shop-split-brain: both clusters run and hold primary volumes, which no failover may make worse.
      for (const n of Object.values(ns)) await seed(kube[side], n, side === 'primary' || n === ns.splitBrain);
      controllers[side] = startTestController(kube[side].kubeconfig, Object.values(ns));
    }
    for (const k of Object.keys(ns) as (keyof typeof ns)[])
      groups[names[k]] = parseGroup(names[k], {
        provider: 'kubernetes',
        endpoint: moto.endpoint,
        primary: {
          region: 'eu-west-1',
          kubernetes: {
            server: kube.primary.server,
            caFile: path.join(dir, 'primary-ca.pem'),
            tokenFile: path.join(dir, 'primary-token'),
          },
        },
        secondary: {
          region: 'eu-central-1',
          kubernetes: { kubeconfig: kube.secondary.kubeconfig },
          // What each workload runs when the source's counts cannot be read (the emergency test stops the primary).
          ...(k === 'emergency' ? { capacity: 2 } : {}),
        },
        kubernetes: {
          ...(k !== 'injected'
            ? { namespaces: [ns[k]], selector: `${PART_OF}=shop` } // every kind (the default) with the label
            : {
                // The other form: the objects named one by one.
                objects: {
                  Deployment: [`${ns[k]}/web`],
                  StatefulSet: [`${ns[k]}/db`],
                  CronJob: [`${ns[k]}/report`],
                  Kustomization: [`${ns[k]}/shop`],
                  HelmRelease: [`${ns[k]}/cache`],
                  VolumeReplication: [`${ns[k]}/data-db-0`, `${ns[k]}/data-db-1`],
                },
              }),
          routing: { virtualService: { name: `${ns[k]}/shop`, hosts: HOSTS } },
          replicationTimeout: '30s',
        },
        approval: { required: 0, timeout: '10m' },
        health: { every: '1s', failuresToTrigger: 3 },
        globalStateTable: table,
      });
    // The controller has made the standing workloads ready before any failover reads them.
    for (const n of Object.values(ns))
      await until(
        async () =>
          (await get(kube.primary, `/apis/apps/v1/namespaces/${n}/deployments/web`)).status?.readyReplicas === 3,
        'primary web ready',
      );
    worker = await startFailoverWorker(env, taskQueue, {
      groups,
      aws: () => aws,
      kubernetesOptions: { pollIntervalMs: 200 },
    });
  }, 300_000);

  afterAll(async () => {
    await worker?.stop();
    for (const c of Object.values(controllers)) await c.stop();
    await env?.teardown();
    await Promise.all([moto?.stop(), kube?.primary.stop(), kube?.secondary.stop()]);
    aws?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** What the test checks of one cluster, read straight from its API server. */
  async function observe(side: Side, n: string) {
    const c = kube[side];
    const web = await get(c, `/apis/apps/v1/namespaces/${n}/deployments/web`);
    const db = await get(c, `/apis/apps/v1/namespaces/${n}/statefulsets/db`);
    const unrelated = await get(c, `/apis/apps/v1/namespaces/${n}/deployments/unrelated`);
    const cron = await get(c, `/apis/batch/v1/namespaces/${n}/cronjobs/report`);
    const ks = await get(c, `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${n}/kustomizations/shop`);
    const hr = await get(c, `/apis/helm.toolkit.fluxcd.io/v2/namespaces/${n}/helmreleases/cache`);
    const vrs = await get(c, `/apis/replication.storage.openshift.io/v1alpha1/namespaces/${n}/volumereplications`);
    const vs = await get(c, `/apis/networking.istio.io/v1beta1/namespaces/${n}/virtualservices/shop`);
    return {
      replicas: { web: web.spec.replicas, db: db.spec.replicas, unrelated: unrelated.spec.replicas },
      cronSuspended: cron.spec.suspend,
      fluxSuspended: [ks.spec.suspend, hr.spec.suspend],
      volumes: vrs.items.map((v: any) => [v.spec.replicationState, v.status?.state]),
      weights: Object.fromEntries(
        vs.spec.http[0].route.map((r: any) => [
          r.destination.host === HOSTS.primary ? 'primary' : 'secondary',
          r.weight,
        ]),
      ),
    };
  }

  /** The provider as the worker builds it, for direct calls (global state, retried steps). */
  const cloud = () =>
    createKubernetesFailoverActivities({ dynamodb: () => aws.dynamodb('eu-central-1'), pollIntervalMs: 100 });
  const globalState = (name: string) => cloud().readState({ name, cfg: groups[name] });

  it('planned: six stages move workloads, volumes, Flux (Kustomization, HelmRelease), CronJobs and routing to the secondary cluster; epoch 1', async () => {
    const name = names.planned;
    const n = ns.planned;
    // A dry run first: readiness against both clusters and the plan, nothing changed.
    const before = await observe('primary', n);
    const dry = await (
      await startFailover(env.client, taskQueue, failoverInput(name, groups[name], { dryRun: true }))
    ).result();
    expect(dry.status).toBe('planned');
    expect(dry.plan.find((a) => a.step === 'scale_target')?.description).toMatch(
      new RegExp(`to the source's counts: Deployment/${n}/web=3, StatefulSet/${n}/db=2`),
    );
    expect(await observe('primary', n)).toEqual(before);

    const h = await startFailover(env.client, taskQueue, failoverInput(name, groups[name]));
    const done = await h.result();
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    expect(done.stages.map((s) => [s.name, s.status])).toEqual(FAILOVER_STAGES.map((s) => [s, 'succeeded']));
    expect(done.compensations).toEqual([]);
    expect(done.rtoSeconds).toBeGreaterThan(0);
    expect(done.rpoSource).toBe('reported'); // lastSyncTime of the source's VolumeReplications
    expect(done.readiness?.find((c) => c.name === 'target_crds')).toMatchObject({ ok: true, detail: '4 CRDs present' });
    expect(done.readiness?.find((c) => c.name === 'source_cluster')?.detail).toMatch(
      new RegExp(`^${kube.primary.server} reachable \\(Kubernetes v1\\.`),
    );

    // Target: the source's former counts, primary volumes, Flux and CronJob resumed, traffic.
    const target = await observe('secondary', n);
    expect(target.replicas).toEqual({ web: 3, db: 2, unrelated: 1 });
    expect(target.fluxSuspended).toEqual([false, false]);
    expect(target.cronSuspended).toBe(false);
    expect(target.volumes).toEqual([
      ['primary', 'Primary'],
      ['primary', 'Primary'],
    ]);
    const web = await get(kube.secondary, `/apis/apps/v1/namespaces/${n}/deployments/web`);
    expect(web.status.readyReplicas).toBe(3);
    // Source: scaled to zero, suspended, secondary.
    const source = await observe('primary', n);
    expect(source.replicas).toEqual({ web: 0, db: 0, unrelated: 1 });
    expect(source.fluxSuspended).toEqual([true, true]);
    expect(source.cronSuspended).toBe(true);
    expect(source.volumes).toEqual([
      ['secondary', 'Secondary'],
      ['secondary', 'Secondary'],
    ]);
    // Both copies of the VirtualService send the traffic to the secondary's host.
    expect(target.weights).toEqual({ primary: 0, secondary: 100 });
    expect(source.weights).toEqual({ primary: 0, secondary: 100 });

    const st = await globalState(name);
    expect(st).toMatchObject({ activeSide: 'secondary', epoch: 1, lastFailoverId: done.id });
    expect(st.lock).toBeUndefined();
    expect(done.epoch).toBe(1);

    // The clusters' bearer tokens reach neither the history nor the result (payloads decoded to text first).
    const history = JSON.stringify(await h.fetchHistory(), (k, v: unknown) =>
      k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    expect(history.includes(`Deployment/${n}/web replicas 0 → 3`)).toBe(true);
    for (const c of [kube.primary, kube.secondary]) {
      expect(history.includes(c.token)).toBe(false);
      expect(JSON.stringify(done).includes(c.token)).toBe(false);
    }
  });

  it('planned: a failure injected in target_activation is compensated: the primary cluster serves again', async () => {
    const name = names.injected;
    const n = ns.injected;
    const h = await startFailover(
      env.client,
      taskQueue,
      failoverInput(name, groups[name], { injectFailure: { stage: 'target_activation' } }),
    );
    const done = await h.result();
    expect(done.status).toBe('rolled_back');
    expect(done.error).toMatchObject({
      code: 'FAILOVER_STEP_FAILED',
      message: expect.stringMatching(/injected failure in target_activation\/verify_health/),
    });
    expect(done.stages.map((s) => s.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
      'failed',
      'skipped',
    ]);
    // The target had been scaled up and routed to before the failure: every step is undone, none by hand.
    const activation = done.stages.find((s) => s.name === 'target_activation')!;
    expect(activation.steps.filter((s) => s.status === 'succeeded').map((s) => s.name)).toEqual([
      'scale_target',
      'switch_traffic',
    ]);
    expect(done.compensations.map((c) => [c.name, c.status])).toEqual([
      ['reattach_replica', 'succeeded'], // csi-addons demotes the target volumes again: not a manual step
      ['unfence_source_database', 'succeeded'],
      ['restore_source_capacity', 'succeeded'],
      ['restore_traffic', 'succeeded'],
      ['restore_target_capacity', 'succeeded'],
    ]);
    expect(done.manualSteps ?? []).toEqual([]);

    const source = await observe('primary', n);
    expect(source.replicas).toEqual({ web: 3, db: 2, unrelated: 1 });
    expect(source.fluxSuspended).toEqual([false, false]);
    expect(source.cronSuspended).toBe(false);
    expect(source.volumes).toEqual([
      ['primary', 'Primary'],
      ['primary', 'Primary'],
    ]);
    const target = await observe('secondary', n);
    expect(target.replicas).toEqual({ web: 0, db: 0, unrelated: 1 });
    expect(target.fluxSuspended).toEqual([true, true]);
    expect(target.cronSuspended).toBe(true);
    expect(target.volumes).toEqual([
      ['secondary', 'Secondary'],
      ['secondary', 'Secondary'],
    ]);
    expect(source.weights).toEqual({ primary: 100, secondary: 0 });
    expect(target.weights).toEqual({ primary: 100, secondary: 0 });

    const st = await globalState(name);
    expect(st).toMatchObject({ activeSide: 'primary', epoch: 0 });
    expect(st.lock).toBeUndefined();
  });
  it('retried steps after the planned failover change nothing: every step sets an absolute state or checks first', async () => {
    const g = { name: names.planned, cfg: groups[names.planned] };
    const n = ns.planned;
    const ctx: OpContext = { failoverId: 'retry', heartbeat: () => undefined, signal: new AbortController().signal };
    const before = { primary: await observe('primary', n), secondary: await observe('secondary', n) };
    const c = cloud();
    // The counts a retried scale_target would carry are the ones the target has now.
    const found = await c.readiness(g, { from: 'secondary', to: 'primary', mode: 'planned' });
    expect(found.capacity.secondary?.objects?.replicas).toEqual({
      [`Deployment/${n}/web`]: 3,
      [`StatefulSet/${n}/db`]: 2,
    });
    expect(await c.scale(g, 'secondary', found.capacity.secondary!, ctx)).toMatchObject({ changed: false });
    expect(await c.scale(g, 'primary', { min: 0, max: 0, desired: 0 }, ctx)).toMatchObject({ changed: false });
    expect(await c.fenceDatabase(g, 'primary', true, ctx)).toMatchObject({ changed: false });
    expect(await c.promoteReplica(g, 'secondary', ctx)).toMatchObject({ changed: false, alreadyPromoted: true });
    expect(await c.routeTraffic(g, 'secondary', ctx)).toMatchObject({ changed: false });
    expect({ primary: await observe('primary', n), secondary: await observe('secondary', n) }).toEqual(before);
    // The source remembers what it ran, for a later emergency failover back to it.
    const web = await get(kube.primary, `/apis/apps/v1/namespaces/${n}/deployments/web`);
    expect(web.metadata.annotations?.[FORMER_REPLICAS]).toBe('3');
  });

  it('refuses a target whose volumes are not secondary (FAILOVER_NOT_READY) and changes nothing', async () => {
    const name = names.splitBrain;
    const n = ns.splitBrain;
    const before = { primary: await observe('primary', n), secondary: await observe('secondary', n) };
    const h = await startFailover(env.client, taskQueue, failoverInput(name, groups[name]));
    const done = await h.result();
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({
      code: 'FAILOVER_NOT_READY',
      message: expect.stringMatching(/target_replication/),
    });
    expect(done.readiness?.find((c) => c.name === 'target_replication')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/spec primary, status Primary/),
    });
    expect(done.stages.map((s) => s.status)).toEqual(['failed', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect({ primary: await observe('primary', n), secondary: await observe('secondary', n) }).toEqual(before);
    const st = await globalState(name);
    expect(st).toMatchObject({ activeSide: 'primary', epoch: 0 });
    expect(st.lock).toBeUndefined();
  });

  it('a worker SIGKILLed while promotion waits for the volumes: another worker resumes the wait and completes', async () => {
    const name = names.crash;
    const n = ns.crash;
    const queue = `failover-k8s-kill-${randomUUID()}`;
    const scratch = fs.mkdtempSync(path.join(dir, 'kill-'));
    const counter = path.join(scratch, 'promotions');
    fs.writeFileSync(counter, '');
    // The secondary's replication controller is slow: promotion sets spec primary and then waits for status.
    await controllers.secondary!.pause();
    let child: ChildProcess | undefined;
    let second: FailoverWorker | undefined;
    try {
      child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(__dirname, '..', 'helpers', 'failover-worker-process.ts')],
        {
          cwd: path.resolve(__dirname, '..', '..'),
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: env.address,
            TASK_QUEUE: queue,
            FO_GROUP_NAME: name,
            FO_GROUP: JSON.stringify(groups[name]),
            FO_COUNTER: counter,
            FO_MARKER: path.join(scratch, 'unused'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await until(() => out.includes('ready') || child!.exitCode !== null, 'the child worker to start', 60_000);
      expect(out).toContain('ready');

      const h = await startFailover(env.client, queue, failoverInput(name, groups[name]));
      const vrs = `/apis/replication.storage.openshift.io/v1alpha1/namespaces/${n}/volumereplications`;
      await until(
        async () => (await get(kube.secondary, vrs)).items.every((v: any) => v.spec.replicationState === 'primary'),
        'the promotion to set spec primary',
        60_000,
      );
      const inFlight = await waitForStatus(h, ['running']);
      expect(inFlight.stages.find((s) => s.name === 'promotion')?.status).toBe('running');
      // Nothing but the (paused) controller writes status: the volumes still report Secondary.
      expect((await get(kube.secondary, vrs)).items.map((v: any) => v.status.state)).toEqual([
        'Secondary',
        'Secondary',
      ]);
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;

      second = await startFailoverWorker(env, queue, {
        groups: { [name]: groups[name] },
        aws: () => aws,
        kubernetesOptions: { pollIntervalMs: 200 },
      });
      controllers.secondary!.resume();
      const done = await h.result();
      expect(done.status).toBe('succeeded');
      expect(done.stages.map((s) => s.status)).toEqual(FAILOVER_STAGES.map(() => 'succeeded'));
      // The retry found the spec set by the killed attempt and only waited.
      const promote = done.stages.find((s) => s.name === 'promotion')!.steps.find((s) => s.name === 'promote_replica');
      expect(promote?.detail).toMatch(/2 VolumeReplication Primary in the secondary cluster \(spec primary already\)/);
      const events = (await h.fetchHistory()).events ?? [];
      const scheduled = events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'failoverPromoteReplica',
      );
      expect(scheduled).toHaveLength(1);
      const started = events.find(
        (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled[0].eventId?.toString(),
      );
      expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
      expect((await observe('secondary', n)).replicas).toEqual({ web: 3, db: 2, unrelated: 1 });
      expect(await globalState(name)).toMatchObject({ activeSide: 'secondary', epoch: 1 });
    } finally {
      controllers.secondary!.resume();
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await second?.stop();
    }
  }, 120_000);

  // Last: it stops the primary's API server for good.
  it('emergency with the primary cluster down: the source is best effort, the secondary takes over at epoch 1', async () => {
    const name = names.emergency;
    const n = ns.emergency;
    await kube.primary.stop();
    const h = await startFailover(env.client, taskQueue, failoverInput(name, groups[name], { mode: 'emergency' }));
    const done = await h.result();
    expect(done.status).toBe('succeeded');
    const byName = Object.fromEntries(done.stages.map((s) => [s.name, s]));
    expect(byName.source_preparation).toMatchObject({
      status: 'failed',
      bestEffort: true,
      error: { code: 'PROVIDER_UNAVAILABLE' },
    });
    expect(byName.demotion).toMatchObject({ status: 'failed', bestEffort: true });
    for (const s of ['initialization', 'promotion', 'target_activation', 'completion'])
      expect(byName[s].status).toBe('succeeded');
    // The primary's copy of the VirtualService could not be switched: the step says so instead of hiding it.
    expect(byName.target_activation.steps.find((s) => s.name === 'switch_traffic')?.detail).toMatch(
      /not reachable, switch by hand: primary/,
    );
    const target = await observe('secondary', n);
    expect(target.replicas).toEqual({ web: 2, db: 2, unrelated: 1 }); // the configured capacity: counts unreadable
    expect(target.fluxSuspended).toEqual([false, false]);
    expect(target.cronSuspended).toBe(false);
    expect(target.volumes).toEqual([
      ['primary', 'Primary'],
      ['primary', 'Primary'],
    ]);
    expect(target.weights).toEqual({ primary: 0, secondary: 100 });
    expect(await globalState(name)).toMatchObject({ activeSide: 'secondary', epoch: 1, lastFailoverId: done.id });
  });
});
