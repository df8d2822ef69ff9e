/**
 * A primary/standby AWS setup in moto for failover tests: a Route53 zone with a weighted (or failover) record
 * pair, a launch template + target group + Auto Scaling group per region, an RDS primary in us-east-1 with a
 * cross-region read replica in us-west-2, and the DynamoDB global-state table with a replication checkpoint.
 * Every resource name carries a random suffix, so several fixtures share one moto server.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CreateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateTargetGroupCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateDBInstanceCommand, CreateDBInstanceReadReplicaCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand } from '@aws-sdk/client-route-53';
import { createAwsClients, type AwsFailoverClients } from '../../src/activities/cloud/aws';
import { parseConfig, type FailoverGroupConfig } from '../../src/shared/config';
import { MOTO_CREDENTIALS } from './moto';

export const EAST = 'us-east-1';
export const WEST = 'us-west-2';

export interface AwsFailoverFixture {
  name: string;
  group: FailoverGroupConfig;
  clients: AwsFailoverClients;
  zoneId: string;
  record: string;
  asg: { east: string; west: string };
  db: { east: string; west: string };
  table: string;
}

/** Calls the EC2 Query API directly (there is no EC2 client in the project; moto reads the region from the credential scope). */
async function ec2(endpoint: string, region: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(endpoint, {
    method: 'POST',
    body: new URLSearchParams({ Version: '2016-11-15', ...params }),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20250101/${region}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
    },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`EC2 ${params.Action} failed: ${text.slice(0, 300)}`);
  return text;
}

/** Parses one group entry through the real config schema, so defaults match what the worker sees. */
export function parseGroup(name: string, raw: Record<string, unknown>): FailoverGroupConfig {
  const cfg = parseConfig(
    { environments: {}, stacks: {}, failoverGroups: { [name]: raw } },
    path.resolve(__dirname, '..', '..'),
    {},
  );
  return cfg.failoverGroups[name];
}

export interface FixtureOptions {
  routing?: 'weighted' | 'failover';
  /** Weighted routing only: the weights the records start with (default primary 100, secondary 0). */
  weights?: { primary: number; secondary: number };
  capacity?: number;
  globalStateRegion?: string;
  /** Seconds before now of the last confirmed replication checkpoint (the RPO fallback); undefined = none. */
  checkpointAgeSeconds?: number;
  approvals?: number;
  /** Configured standby capacity (what an emergency failover scales to when the source is unreadable). */
  targetCapacity?: number;
}

export async function createAwsFailoverFixture(
  endpoint: string,
  opts: FixtureOptions = {},
): Promise<AwsFailoverFixture> {
  const sfx = randomBytes(3).toString('hex');
  const name = `web-aws-${sfx}`;
  const clients = createAwsClients({ endpoint, credentials: MOTO_CREDENTIALS });
  const zone = `${sfx}.example.internal`;
  const record = `app.${zone}`;
  const z = await clients.route53().send(new CreateHostedZoneCommand({ Name: zone, CallerReference: `strata-${sfx}` }));
  const zoneId = z.HostedZone!.Id!;
  const routing = opts.routing ?? 'weighted';
  const rr = (side: 'primary' | 'secondary', value: string) => ({
    Name: record,
    Type: 'CNAME' as const,
    SetIdentifier: side,
    TTL: 60,
    ResourceRecords: [{ Value: value }],
    ...(routing === 'weighted'
      ? { Weight: (opts.weights ?? { primary: 100, secondary: 0 })[side] }
      : { Failover: side === 'primary' ? ('PRIMARY' as const) : ('SECONDARY' as const) }),
  });
  await clients.route53().send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: {
        Changes: [
          { Action: 'CREATE', ResourceRecordSet: rr('primary', `east.${zone}`) },
          { Action: 'CREATE', ResourceRecordSet: rr('secondary', `west.${zone}`) },
        ],
      },
    }),
  );

  const capacity = opts.capacity ?? 3;
  const asg = { east: `web-east-${sfx}`, west: `web-west-${sfx}` };
  const tgArn: Record<string, string> = {};
  for (const [region, key] of [
    [EAST, 'east'],
    [WEST, 'west'],
  ] as const) {
    const vpcs = await ec2(endpoint, region, { Action: 'DescribeVpcs' });
    const vpcId = /<vpcId>(vpc-[0-9a-f]+)<\/vpcId>/.exec(vpcs)?.[1];
    await ec2(endpoint, region, {
      Action: 'CreateLaunchTemplate',
      LaunchTemplateName: asg[key],
      'LaunchTemplateData.ImageId': 'ami-12c6146b',
      'LaunchTemplateData.InstanceType': 't3.micro',
    });
    const tg = await clients.elbv2(region).send(
      new CreateTargetGroupCommand({
        Name: `tg-${key}-${sfx}`,
        Protocol: 'HTTP',
        Port: 80,
        VpcId: vpcId,
        TargetType: 'instance',
      }),
    );
    tgArn[key] = tg.TargetGroups![0].TargetGroupArn!;
    const active = key === 'east';
    await clients.autoScaling(region).send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: asg[key],
        MinSize: active ? 1 : 0,
        MaxSize: 6,
        DesiredCapacity: active ? capacity : 0,
        AvailabilityZones: [`${region}a`],
        LaunchTemplate: { LaunchTemplateName: asg[key], Version: '$Latest' },
        TargetGroupARNs: [tgArn[key]],
      }),
    );
  }

  const db = { east: `db-east-${sfx}`, west: `db-west-${sfx}` };
  const primary = await clients.rds(EAST).send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: db.east,
      Engine: 'postgres',
      DBInstanceClass: 'db.t3.micro',
      MasterUsername: 'strata',
      MasterUserPassword: 'not-a-secret-1',
      AllocatedStorage: 20,
    }),
  );
  await clients.rds(WEST).send(
    new CreateDBInstanceReadReplicaCommand({
      DBInstanceIdentifier: db.west,
      SourceDBInstanceIdentifier: primary.DBInstance!.DBInstanceArn!,
      DBInstanceClass: 'db.t3.micro',
    }),
  );

  const table = `strata-failover-${sfx}`;
  // Where the activities look unless told otherwise: the standby's region, which an emergency never abandons.
  const stateRegion = opts.globalStateRegion ?? WEST;
  await clients.dynamodb(stateRegion).send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: 'group', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'group', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  if (opts.checkpointAgeSeconds !== undefined) {
    const at = new Date(Date.now() - opts.checkpointAgeSeconds * 1000).toISOString();
    await clients
      .dynamodb(stateRegion)
      .send(new PutItemCommand({ TableName: table, Item: { group: { S: name }, replicationCheckpointAt: { S: at } } }));
  }

  const group = parseGroup(name, {
    provider: 'aws',
    endpoint,
    primary: {
      region: EAST,
      route53Zone: zone,
      recordName: record,
      asg: asg.east,
      dbInstance: db.east,
      targetGroupArn: tgArn.east,
    },
    secondary: {
      region: WEST,
      asg: asg.west,
      dbReplica: db.west,
      targetGroupArn: `tg-west-${sfx}`,
      ...(opts.targetCapacity ? { capacity: opts.targetCapacity } : {}),
    },
    approval: { required: opts.approvals ?? 0, timeout: '10m' },
    health: { every: '1s', failuresToTrigger: 3 },
    globalStateTable: table,
    ...(opts.globalStateRegion ? { globalStateRegion: opts.globalStateRegion } : {}),
  });
  return { name, group, clients, zoneId, record, asg, db, table };
}
