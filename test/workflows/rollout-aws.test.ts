/**
 * Blue-green on AWS, emulated by moto: blue and green are Auto Scaling groups, traffic is a pair of weighted
 * Route53 records. The rollout workflow runs on the time-skipping server (the scale-down delay is a durable
 * timer it skips) with the real AWS activities; the test reads the result back from moto.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
} from '@aws-sdk/client-route-53';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createAwsClients, type AwsFailoverClients } from '../../src/activities/cloud/aws/clients';
import { createRolloutActivities } from '../../src/activities/rollout';
import {
  abortUpdate,
  promoteUpdate,
  rolloutStatusQuery,
  rolloutWorkflowId,
  type AwsRolloutTarget,
  type RolloutInput,
  type RolloutStrategy,
} from '../../src/contracts/rollout';
import type { progressiveRolloutWorkflow } from '../../src/workflows/rollout';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';
import { eventually, runWorker, type RunningWorker } from '../helpers/temporal';
import { startTimeSkipping } from '../helpers/time-skipping';

const REGION = 'us-east-1';

describe('blue-green rollout on AWS (moto)', () => {
  let moto: MotoServer;
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker;
  let clients: AwsFailoverClients;
  const taskQueue = `rollout-aws-${randomUUID()}`;

  beforeAll(async () => {
    moto = await startMoto();
    clients = createAwsClients({ endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
    env = await startTimeSkipping();
    const bundle = process.env.STRATA_WORKFLOW_BUNDLE;
    const w = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      ...(bundle
        ? { workflowBundle: { codePath: bundle } }
        : { workflowsPath: require.resolve('../../src/workflows') }),
      activities: createRolloutActivities({
        simulated: { dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rollout-')) },
        aws: () => clients,
      }),
    });
    worker = runWorker(w);
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
    clients?.destroy();
    await moto?.stop();
  });

  /** Blue with 3 instances and all traffic, green empty with none. */
  async function fixture(): Promise<AwsRolloutTarget> {
    const sfx = randomBytes(3).toString('hex');
    const zone = `${sfx}.example.internal`;
    const recordName = `app.${zone}`;
    const z = await clients
      .route53()
      .send(new CreateHostedZoneCommand({ Name: zone, CallerReference: `strata-${sfx}` }));
    const rr = (id: string, weight: number) => ({
      Name: recordName,
      Type: 'CNAME' as const,
      SetIdentifier: id,
      Weight: weight,
      TTL: 60,
      ResourceRecords: [{ Value: `${id}.${zone}` }],
    });
    await clients.route53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: z.HostedZone!.Id!,
        ChangeBatch: {
          Changes: [
            { Action: 'CREATE', ResourceRecordSet: rr('blue', 100) },
            { Action: 'CREATE', ResourceRecordSet: rr('green', 0) },
          ],
        },
      }),
    );
    const template = `web-${sfx}`;
    const res = await fetch(moto.endpoint, {
      method: 'POST',
      body: new URLSearchParams({
        Version: '2016-11-15',
        Action: 'CreateLaunchTemplate',
        LaunchTemplateName: template,
        'LaunchTemplateData.ImageId': 'ami-12c6146b',
        'LaunchTemplateData.InstanceType': 't3.micro',
      }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `AWS4-HMAC-SHA256 Credential=testing/20250101/${REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
      },
    });
    expect(res.ok).toBe(true);
    for (const [name, desired] of [
      [`blue-${sfx}`, 3],
      [`green-${sfx}`, 0],
    ] as const) {
      await clients.autoScaling(REGION).send(
        new CreateAutoScalingGroupCommand({
          AutoScalingGroupName: name,
          MinSize: desired ? 1 : 0,
          MaxSize: 6,
          DesiredCapacity: desired,
          AvailabilityZones: [`${REGION}a`],
          LaunchTemplate: { LaunchTemplateName: template, Version: '$Latest' },
        }),
      );
    }
    return {
      region: REGION,
      hostedZone: zone,
      recordName,
      blue: { asg: `blue-${sfx}`, setIdentifier: 'blue' },
      green: { asg: `green-${sfx}`, setIdentifier: 'green' },
    };
  }

  async function world(t: AwsRolloutTarget) {
    const asgs = await clients
      .autoScaling(REGION)
      .send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [t.blue.asg, t.green.asg] }));
    const desired = (n: string) => asgs.AutoScalingGroups!.find((a) => a.AutoScalingGroupName === n)!.DesiredCapacity;
    const zones = await clients.route53().send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: (await zoneIdOf(t.hostedZone))!,
        StartRecordName: t.recordName,
      }),
    );
    const weight = (id: string) => zones.ResourceRecordSets!.find((r) => r.SetIdentifier === id)!.Weight;
    return {
      blue: { desired: desired(t.blue.asg), weight: weight('blue') },
      green: { desired: desired(t.green.asg), weight: weight('green') },
    };
  }
  async function zoneIdOf(zone: string) {
    const r = await clients.route53().send(new ListHostedZonesByNameCommand({ DNSName: zone }));
    return r.HostedZones!.find((z) => z.Name!.replace(/\.$/, '') === zone)!.Id;
  }

  async function start(target: AwsRolloutTarget, strategy: RolloutStrategy) {
    const input: RolloutInput = {
      id: `aws-${randomUUID().slice(0, 8)}`,
      service: 'web',
      provider: 'aws',
      aws: target,
      version: 'v2',
      strategy,
      requestedBy: 'carol',
    };
    return env.client.workflow.start<typeof progressiveRolloutWorkflow>('progressiveRolloutWorkflow', {
      workflowId: rolloutWorkflowId(input.id),
      taskQueue,
      args: [input],
    });
  }

  test('promoted: green scaled to blue’s size, then all weight to green, blue scaled down after the delay', async () => {
    const t = await fixture();
    const handle = await start(t, { type: 'blueGreen', scaleDownDelay: '30m' });
    await eventually(
      async () => (await handle.query(rolloutStatusQuery)).status === 'awaiting_promotion',
      'promotion gate',
      60_000,
      100,
    );
    // Green runs at full size before it takes any traffic.
    expect(await world(t)).toEqual({ blue: { desired: 3, weight: 100 }, green: { desired: 3, weight: 0 } });
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'bob', roles: ['approver'] }] });
    const r = await handle.result();
    expect(r.status).toBe('completed');
    expect(r.stableVersion).toBe('blue');
    expect(await world(t)).toEqual({ blue: { desired: 0, weight: 0 }, green: { desired: 3, weight: 100 } });
  });

  test('auto-promoted, then aborted during the scale-down delay: traffic back on blue, green scaled to zero', async () => {
    const t = await fixture();
    const handle = await start(t, { type: 'blueGreen', autoPromote: true, scaleDownDelay: '30m' });
    await eventually(
      async () => (await handle.query(rolloutStatusQuery)).steps[1]?.status === 'paused',
      'scale-down delay',
      60_000,
      100,
    );
    // Switched, but blue keeps its instances through the delay.
    expect(await world(t)).toEqual({ blue: { desired: 3, weight: 0 }, green: { desired: 3, weight: 100 } });
    const r = await handle.executeUpdate(abortUpdate, {
      args: [{ by: 'alice', roles: ['deployer'], reason: 'latency' }],
    });
    expect(r).toMatchObject({ status: 'rolled_back', abort: { by: 'alice', step: 1 } });
    expect(await world(t)).toEqual({ blue: { desired: 3, weight: 100 }, green: { desired: 0, weight: 0 } });
  });
});
