/**
 * web-aws: a classic two-region web tier as a CDKTF stack. Strata synthesizes it offline (in a child
 * process) and applies the resulting cdk.tf.json with OpenTofu.
 *
 * Provider classes come from deep imports only: the @cdktf/provider-aws barrel costs ~7 s and ~900 MB in
 * tsc and at load time, a deep import ~1.5 s.
 */
import { App, TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { AutoscalingGroup } from '@cdktf/provider-aws/lib/autoscaling-group';
import { DbInstance } from '@cdktf/provider-aws/lib/db-instance';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { Route53Record } from '@cdktf/provider-aws/lib/route53-record';
import { Route53Zone } from '@cdktf/provider-aws/lib/route53-zone';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import type { SynthContext } from '../../src/executors/cdktf/stack-module';

/** The stack's variables after defaults; synth receives them as plain JSON from the run. */
export interface WebAwsVariables {
  region: string;
  replica_region: string;
  instance_count: number;
  instance_type: string;
  ami_id: string;
  domain: string;
  db_instance_class: string;
}

const DEFAULTS: WebAwsVariables = {
  region: 'us-east-1',
  replica_region: 'us-west-2',
  instance_count: 2,
  instance_type: 't3.micro',
  // Amazon Linux 2023 in us-east-1 at the time of writing; override per region.
  ami_id: 'ami-0c02fb55956c7d316',
  domain: 'example.internal',
  db_instance_class: 'db.t3.micro',
};

/** Merges run variables over the defaults, rejecting wrong types early (synth fails, nothing is planned). */
export function resolveVariables(raw: Record<string, unknown>): WebAwsVariables {
  const out = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof WebAwsVariables)[]) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    const want = typeof DEFAULTS[key];
    const value = want === 'number' && typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof value !== want || (want === 'number' && !Number.isInteger(value))) {
      throw new Error(
        `variable ${key} must be ${want === 'number' ? 'an integer' : 'a string'}, got ${JSON.stringify(v)}`,
      );
    }
    (out as Record<string, unknown>)[key] = value;
  }
  if (out.instance_count < 0 || out.instance_count > 50) throw new Error('instance_count must be between 0 and 50');
  return out;
}

/** The web tier: bucket, DNS, launch template + ASG, RDS primary and a cross-region read replica. */
export class WebAwsStack extends TerraformStack {
  constructor(scope: Construct, id: string, vars: WebAwsVariables, environment: string) {
    super(scope, id);
    const tags = { 'strata:stack': 'web-aws', 'strata:environment': environment };

    new AwsProvider(this, 'aws', { region: vars.region, defaultTags: [{ tags }] });
    // The replica lives in another region: a second, aliased provider configuration.
    const replicaProvider = new AwsProvider(this, 'aws-replica', {
      alias: 'replica',
      region: vars.replica_region,
      defaultTags: [{ tags }],
    });

    const assets = new S3Bucket(this, 'assets', { bucketPrefix: `strata-web-${environment}-` });

    const template = new LaunchTemplate(this, 'web', {
      namePrefix: `web-${environment}-`,
      imageId: vars.ami_id,
      instanceType: vars.instance_type,
      updateDefaultVersion: true,
    });
    new AutoscalingGroup(this, 'web-asg', {
      // Named like strata.yaml's web-aws failover group expects (web-east), suffixed per environment.
      name: `web-east-${environment}`,
      minSize: 0,
      maxSize: Math.max(vars.instance_count * 2, 1),
      desiredCapacity: vars.instance_count,
      availabilityZones: [`${vars.region}a`, `${vars.region}b`],
      launchTemplate: { id: template.id, version: '$Latest' },
    });

    const primary = new DbInstance(this, 'db', {
      identifier: `db-east-${environment}`,
      engine: 'postgres',
      instanceClass: vars.db_instance_class,
      allocatedStorage: 20,
      username: 'strata',
      // RDS keeps the password in Secrets Manager: no secret in the config snapshot or the state.
      manageMasterUserPassword: true,
      // Read replicas need automated backups on the source.
      backupRetentionPeriod: 7,
      skipFinalSnapshot: environment !== 'prod',
    });
    const replica = new DbInstance(this, 'db-replica', {
      provider: replicaProvider,
      identifier: `db-west-${environment}`,
      // Cross-region replicas name their source by ARN.
      replicateSourceDb: primary.arn,
      instanceClass: vars.db_instance_class,
      skipFinalSnapshot: true,
    });

    const zone = new Route53Zone(this, 'zone', { name: vars.domain });
    // The failover runbook repoints `db` at the promoted replica; clients only ever use this name.
    new Route53Record(this, 'db-record', {
      zoneId: zone.zoneId,
      name: `db.${vars.domain}`,
      type: 'CNAME',
      ttl: 60,
      records: [primary.address],
    });
    new Route53Record(this, 'db-replica-record', {
      zoneId: zone.zoneId,
      name: `db-replica.${vars.domain}`,
      type: 'CNAME',
      ttl: 60,
      records: [replica.address],
    });
    new Route53Record(this, 'assets-record', {
      zoneId: zone.zoneId,
      name: `assets.${vars.domain}`,
      type: 'CNAME',
      ttl: 300,
      records: [assets.bucketRegionalDomainName],
    });

    new TerraformOutput(this, 'bucket', { value: assets.bucket });
    new TerraformOutput(this, 'zone_id', { value: zone.zoneId });
    new TerraformOutput(this, 'db_address', { value: primary.address });
  }
}

/** Strata's CDKTF entry point (see src/executors/cdktf/stack-module.ts). */
export function synth(outdir: string, variables: Record<string, unknown>, context: SynthContext): void {
  const app = new App({ outdir, skipValidation: true });
  new WebAwsStack(app, 'web-aws', resolveVariables(variables), context.environment);
  app.synth();
}

// `npx tsx stacks/web-aws/main.ts` (or `cdktf synth` with cdktf.json) synthesizes the dev environment
// with defaults into ./cdktf.out, for inspection outside Strata.
if (require.main === module) {
  synth(
    process.env.CDKTF_OUTDIR ?? 'cdktf.out',
    {},
    { stack: 'web-aws', environment: process.env.STRATA_ENV ?? 'dev' },
  );
}
