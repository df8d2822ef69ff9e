/**
 * A CloudFormation stack through the HTTP API, with a real Temporal server and moto as the AWS endpoint: plan
 * and approval (the plan names the change set's resources), apply, a template change, Strata's rollback to the
 * first version (its recorded template and parameters, planned and applied again), a drift scan and destroy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

// The worker runs in this process; its CloudFormation client takes moto's static credentials from the environment.
process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;

const REGION = 'us-east-1';
const STACK = 'strata-cfn-demo-staging';

describe('CloudFormation stack through the HTTP API (moto)', () => {
  const config = testConfig();
  // A copy of the demo stack: the test edits its template between versions.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cfn-api-'));
  const templateFile = path.join(dir, 'template.yaml');
  const v1Template = fs.readFileSync(path.resolve(__dirname, '../../stacks/cfn-demo/template.yaml'), 'utf8');
  fs.writeFileSync(templateFile, v1Template);
  config.stacks['cfn-demo'] = {
    executor: 'cloudformation',
    path: dir,
    variables: { Prefix: 'strata-api-one' },
    verify: [],
    aws: { region: REGION, endpoint: 'http://127.0.0.1:1' }, // set to moto's port below, before the worker starts
  };
  let moto: MotoServer;
  let cfn: CloudFormationClient;
  let s3: S3Client;
  beforeAll(async () => {
    moto = await startMoto();
    config.stacks['cfn-demo'].aws!.endpoint = moto.endpoint;
    const opts = { region: REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
    cfn = new CloudFormationClient(opts);
    s3 = new S3Client({ ...opts, forcePathStyle: true });
  });
  afterAll(() => moto?.stop());
  const s = useStrata(config);

  const stackResources = async () =>
    ((await cfn.send(new DescribeStackResourcesCommand({ StackName: STACK }))).StackResources ?? [])
      .map((r) => r.LogicalResourceId)
      .sort();
  const buckets = async () => ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name).sort();
  const approveAndWait = async (id: string) => {
    const waiting = await s.http.waitFor(id, ['awaiting_approval']);
    const ok = await s.http.post('bob', `/api/v1/deployments/${id}/approve`, { planHash: waiting.plan!.planHash });
    expect(ok.status).toBe(200);
    return { waiting, done: await s.http.waitFor(id, ['succeeded']) };
  };

  it('deploys v1, applies a template change, rolls back to v1, sees drift and destroys, each approved by plan hash', async () => {
    const unknown = await s.http.post('alice', '/api/v1/deployments', {
      stack: 'cfn-demo',
      environment: 'staging',
      variables: { Nope: 1 },
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toMatch(/Nope/);

    // v1: a CREATE change set with the three resources, approved by its plan hash, then executed.
    const v1 = await s.http.deploy('alice', { stack: 'cfn-demo', environment: 'staging' });
    const first = await approveAndWait(v1);
    expect(first.waiting.plan).toMatchObject({ add: 3, change: 0, destroy: 0 });
    const planRes = await s.http.get('alice', `/api/v1/deployments/${v1}/plan`);
    expect(planRes.status).toBe(200);
    expect(JSON.stringify(planRes.body)).toMatch(/AWS::IAM::Role/);
    expect(await buckets()).toEqual(['strata-api-one-artifacts']);
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks![0];
    expect(stack.StackStatus).toBe('CREATE_COMPLETE');
    const state = await s.http.get('alice', '/api/v1/stacks/cfn-demo/environments/staging/state');
    expect(state.status).toBe(200);
    expect((state.body.resources as { address: string }[]).map((r) => r.address).sort()).toEqual([
      'Bucket',
      'ReaderRole',
      'Table',
    ]);

    // v2: the template drops the role (and its output). The change set removes it, nothing else.
    fs.writeFileSync(
      templateFile,
      v1Template.replace(/ {2}ReaderRole:[\s\S]*?(?=\nOutputs:)/, '').replace(/ {2}RoleArn:\n.*\n/, ''),
    );
    const v2 = await s.http.deploy('alice', { stack: 'cfn-demo', environment: 'staging' });
    const second = await approveAndWait(v2);
    expect(second.waiting.plan).toMatchObject({ add: 0, change: 0, destroy: 1 });
    expect(second.waiting.plan!.planHash).not.toBe(first.waiting.plan!.planHash);
    expect(await stackResources()).toEqual(['Bucket', 'Table']);

    // Rollback to v1: Strata re-plans v1's recorded template and parameters as a new change set, approved again.
    const rb = await s.http.post('alice', '/api/v1/stacks/cfn-demo/environments/staging/rollback', {
      targetVersion: 1,
      reason: 'two is wrong',
    });
    expect(rb.status).toBe(202);
    // The directory still holds v2's template: the rollback uses v1's recorded snapshot, not the directory.
    const back = await approveAndWait(rb.body.id);
    expect(back.waiting.plan).toMatchObject({ add: 1, change: 0, destroy: 0 });
    expect(back.done).toMatchObject({ kind: 'rollback', targetVersion: 1, stateVersion: 3 });
    expect(await stackResources()).toEqual(['Bucket', 'ReaderRole', 'Table']);
    expect(await buckets()).toEqual(['strata-api-one-artifacts']);
    const history = (await s.http.get('alice', '/api/v1/stacks/cfn-demo/environments/staging/state/history')).body
      .items as { version: number; kind: string }[];
    expect(history.map((v) => [v.version, v.kind])).toEqual([
      [3, 'rollback'],
      [2, 'deploy'],
      [1, 'deploy'],
    ]);

    // Drift: someone adds a bucket to the stack behind Strata's back (moto has no DetectStackDrift: the executor's
    // own comparison of the stack's resources with its state finds it).
    await cfn.send(
      new UpdateStackCommand({
        StackName: STACK,
        TemplateBody: v1Template.replace(
          'Resources:\n',
          'Resources:\n  Extra:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: strata-api-extra\n\n',
        ),
        Parameters: [{ ParameterKey: 'Prefix', ParameterValue: 'strata-api-one' }],
        Capabilities: ['CAPABILITY_NAMED_IAM'],
      }),
    );
    const scan = await s.http.post('alice', '/api/v1/stacks/cfn-demo/environments/staging/drift-scan');
    expect(scan.status).toBe(202);
    const report = await eventually(async () => {
      const r = await s.http.get('alice', '/api/v1/stacks/cfn-demo/environments/staging/drift');
      return r.status === 200 && r.body.drifted && r.body;
    }, 'a drift report');
    expect(report.resources).toEqual([
      expect.objectContaining({ address: 'Extra', type: 'AWS::S3::Bucket', change: 'added' }),
    ]);

    // Destroy: a DeleteStack plan listing every resource, approved, then the stack is gone.
    const del = await s.http.post('alice', '/api/v1/stacks/cfn-demo/environments/staging/destroy', {
      reason: 'teardown',
    });
    expect(del.status).toBe(202);
    const gone = await approveAndWait(del.body.id);
    expect(gone.waiting.plan).toMatchObject({ destroy: 4, add: 0 });
    expect(gone.done.kind).toBe('destroy');
    await expect(cfn.send(new DescribeStacksCommand({ StackName: STACK }))).rejects.toThrow(/does not exist/);
    expect(await buckets()).toEqual([]);
  });
});
