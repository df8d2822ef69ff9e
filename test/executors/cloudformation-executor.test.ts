/**
 * The CloudFormation executor against moto (a real CloudFormation API emulator): change-set plans, applying exactly
 * the planned change set, the stale-plan rule, a resumed apply that never executes twice, drift and destroy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CloudFormationClient,
  DeleteStackCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { createCloudFormationExecutor } from '../../src/executors/cloudformation/cfn-executor';
import type { CfnPlanDocument, CfnState } from '../../src/executors/cloudformation/model';
import type { IacExecutor, PlanSummary, StackSpec } from '../../src/executors/types';
import { createHarness, type Harness } from '../helpers/executor-harness';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';

const STACK_DIR = path.resolve(__dirname, '../../stacks/cfn-demo');
const REGION = 'us-east-1';

let moto: MotoServer;
let h: Harness;
let exec: IacExecutor;
let cfn: CloudFormationClient;
let s3: S3Client;
let seq = 0;

beforeAll(async () => {
  moto = await startMoto();
  const client = { credentials: MOTO_CREDENTIALS };
  exec = createCloudFormationExecutor({ client, pollMs: 100 });
  cfn = new CloudFormationClient({ region: REGION, endpoint: moto.endpoint, ...client });
  s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, forcePathStyle: true, ...client });
  h = createHarness('cfn', 'cfn-demo');
});
afterAll(async () => {
  await moto?.stop();
  h?.cleanup();
});

/** A fresh environment (so a fresh CloudFormation stack) per test. */
function target(over: Partial<StackSpec> = {}): StackSpec {
  const environment = `e${++seq}`;
  return {
    stack: 'cfn-demo',
    environment,
    executor: 'cloudformation',
    path: STACK_DIR,
    variables: { Prefix: `strata-t${seq}` },
    aws: { region: REGION, endpoint: moto.endpoint },
    ...over,
  };
}
const ctxOf = (spec: StackSpec, runId: string) => h.context(runId, { environment: spec.environment });

async function planned(spec: StackSpec, runId: string, destroy = false) {
  const c = ctxOf(spec, runId);
  const config = await exec.prepare(spec, c.ctx);
  const plan = destroy ? await exec.planDestroy(spec, config, c.ctx) : await exec.plan(spec, config, c.ctx);
  return { plan, config, ...c };
}
async function deployed(spec: StackSpec, runId: string) {
  const p = await planned(spec, runId);
  const result = await exec.apply(spec, p.plan, p.ctx);
  return { ...p, result };
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
const bucketExists = (name: string) =>
  s3.send(new HeadBucketCommand({ Bucket: name })).then(
    () => true,
    () => false,
  );
const planDoc = async (plan: PlanSummary) =>
  JSON.parse((await h.artifacts.get(plan.planRef)).toString()) as CfnPlanDocument;
const stateOf = async (spec: StackSpec) =>
  JSON.parse((await h.state.getCurrentState('cfn-demo', spec.environment))!.body) as CfnState;

/** A copy of the demo stack with its template edited. */
function editedStack(edit: (t: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cfn-stack-'));
  fs.writeFileSync(
    path.join(dir, 'template.yaml'),
    edit(fs.readFileSync(path.join(STACK_DIR, 'template.yaml'), 'utf8')),
  );
  return dir;
}

describe('CloudFormation executor on moto', () => {
  it('plans a CREATE change set with every resource, applies exactly it, and records the stack', async () => {
    const spec = target();
    const { plan } = await planned(spec, 'r1');
    expect(plan).toMatchObject({ add: 3, change: 0, destroy: 0, hasChanges: true, destroyPlan: false, stateSerial: 0 });
    expect(plan.resources.map((r) => `${r.action} ${r.address} ${r.type}`).sort()).toEqual([
      'create Bucket AWS::S3::Bucket',
      'create ReaderRole AWS::IAM::Role',
      'create Table AWS::DynamoDB::Table',
    ]);
    const doc = await planDoc(plan);
    expect(doc.changeSet).toMatchObject({ type: 'CREATE' });
    expect(doc.parameters).toEqual({ Prefix: spec.variables.Prefix });
    expect(doc.templateSha256).toMatch(/^[0-9a-f]{64}$/);

    const c = ctxOf(spec, 'r1');
    const result = await exec.apply(spec, plan, c.ctx);
    expect(
      result.resources.map((r) => [r.address, (r.attributes as { physicalId: string }).physicalId]).sort(),
    ).toEqual([
      ['Bucket', `${spec.variables.Prefix}-artifacts`],
      ['ReaderRole', `${spec.variables.Prefix}-reader`],
      ['Table', `${spec.variables.Prefix}-items`],
    ]);
    expect(await bucketExists(`${spec.variables.Prefix}-artifacts`)).toBe(true);
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: `strata-cfn-demo-${spec.environment}` })))
      .Stacks![0];
    expect(stack.StackStatus).toBe('CREATE_COMPLETE');
    expect(c.logs.map((l) => l.message).join('\n')).toMatch(/executing change set strata-r1-/);
    const st = await stateOf(spec);
    expect(st).toMatchObject({
      serial: 2,
      stackName: `strata-cfn-demo-${spec.environment}`,
      baseline: { stackId: stack.StackId, status: 'CREATE_COMPLETE' },
    });
    expect(st.applying).toBeUndefined();
    const snap = await exec.snapshotState(spec, c.ctx);
    expect(snap.resources).toHaveLength(3);
  });

  it('a re-plan of an applied stack has no changes; a template edit plans an update and a removal', async () => {
    const spec = target();
    await deployed(spec, 'a1');
    const again = await planned(spec, 'a2');
    expect(again.plan).toMatchObject({ hasChanges: false, add: 0, change: 0, destroy: 0 });
    expect(again.logs.map((l) => l.message).join('\n')).toMatch(/No changes/);

    // Drop the role (and the outputs that name it) and tag the bucket differently.
    const dir = editedStack((t) =>
      t
        .replace(/ {2}ReaderRole:[\s\S]*?(?=\nOutputs:)/, '')
        .replace(/ {2}RoleArn:\n {4}Value: !GetAtt ReaderRole.Arn\n/, '')
        .replace('Value: strata', 'Value: strata-v2'),
    );
    const edited = { ...spec, path: dir };
    const { plan, ctx } = await planned(edited, 'a3');
    expect(plan.resources.map((r) => `${r.action} ${r.address}`).sort()).toEqual([
      'delete ReaderRole',
      'update Bucket',
    ]);
    expect(plan).toMatchObject({ add: 0, change: 1, destroy: 1 });
    const result = await exec.apply(edited, plan, ctx);
    expect(result.resources.map((r) => r.address).sort()).toEqual(['Bucket', 'Table']);
  });

  it('refuses a plan whose stack changed since (PLAN_STALE), one whose state moved, and a tampered plan', async () => {
    const spec = target();
    await deployed(spec, 's1');
    const dir = editedStack((t) => t.replace('Value: strata', 'Value: strata-v2'));
    const edited = { ...spec, path: dir };

    // Someone updates the stack outside Strata after the plan: its last change moved.
    const first = await planned(edited, 's2');
    await cfn.send(
      new UpdateStackCommand({
        StackName: `strata-cfn-demo-${spec.environment}`,
        TemplateBody: fs
          .readFileSync(path.join(dir, 'template.yaml'), 'utf8')
          .replace('Value: strata-v2', 'Value: elsewhere'),
        Parameters: [{ ParameterKey: 'Prefix', ParameterValue: spec.variables.Prefix as string }],
        Capabilities: ['CAPABILITY_NAMED_IAM'],
      }),
    );
    expect(await codeOf(exec.apply(edited, first.plan, first.ctx))).toMatch(
      /^PLAN_STALE: stack strata-cfn-demo-e\d+ changed since the plan/,
    );

    // Two plans against the same state: once one is applied, the other is stale.
    const a = await planned(edited, 's3');
    const b = await planned(edited, 's4');
    await exec.apply(edited, a.plan, a.ctx);
    expect(await codeOf(exec.apply(edited, b.plan, b.ctx))).toMatch(
      /^PLAN_STALE: saved plan was made against state serial/,
    );

    const c = await planned(spec, 's5');
    const bytes = (await h.artifacts.get(c.plan.planRef)).toString().replace('"destroy": false', '"destroy": true');
    await h.artifacts.put(c.plan.planRef, bytes);
    expect(await codeOf(exec.apply(spec, c.plan, c.ctx))).toMatch(/^PLAN_HASH_MISMATCH/);
  });

  it('a retry after the change set was executed adopts the result and never executes it again', async () => {
    const spec = target();
    const { plan, ctx } = await planned(spec, 'x1');
    // What the first attempt leaves when it dies right after ExecuteChangeSet: the marker in the state, and the
    // change set executed.
    const st = await stateOf(spec).catch(() => undefined);
    expect(st).toBeUndefined();
    const doc = await planDoc(plan);
    await h.state.putCurrentState(
      'cfn-demo',
      spec.environment,
      {
        body: JSON.stringify({
          format: 'strata-cfn-state/1',
          serial: 1,
          lineage: 'l-x1',
          stackName: doc.stackName,
          region: REGION,
          baseline: doc.baseline,
          resources: [],
          outputs: {},
          applying: { planHash: plan.planHash, runId: 'x1', changeSetId: doc.changeSet!.id, destroy: false },
        }),
        serial: 1,
        lineage: 'l-x1',
        updatedBy: 'x1',
      },
      'absent',
    );
    await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: doc.changeSet!.id }));

    const retry = ctxOf(spec, 'x1');
    const result = await exec.apply(spec, plan, retry.ctx);
    const said = retry.logs.map((l) => l.message).join('\n');
    expect(said).toMatch(/resuming the apply of this plan/);
    expect(said).toMatch(/is EXECUTE_COMPLETE; not executing it again/);
    expect(said).not.toMatch(/executing change set strata-/);
    expect(result.resources).toHaveLength(3);
    expect((await stateOf(spec)).applying).toBeUndefined();
    void ctx;
  });

  it('unknown variables and missing required parameters are refused when the config is captured', async () => {
    const spec = target({ variables: { Prefix: 'p', Nope: 1 } });
    expect(await codeOf(exec.prepare(spec, ctxOf(spec, 'v1').ctx))).toMatch(
      /^VALIDATION_FAILED: variable "Nope" is not a parameter of template.yaml/,
    );
    const dir = editedStack((t) => t.replace('    Default: strata-cfn-demo\n', ''));
    const required = target({ path: dir, variables: {} });
    expect(await codeOf(exec.prepare(required, ctxOf(required, 'v2').ctx))).toMatch(/need a value: Prefix/);
  });

  it('drift: a stack updated outside Strata, then one deleted outside Strata', async () => {
    const spec = target();
    const { ctx, config } = await deployed(spec, 'd1');
    expect(await exec.detectDrift(spec, config, ctx)).toMatchObject({ drifted: false, resources: [] });
    const c = ctxOf(spec, 'd2');
    await cfn.send(
      new UpdateStackCommand({
        StackName: `strata-cfn-demo-${spec.environment}`,
        TemplateBody: fs
          .readFileSync(path.join(STACK_DIR, 'template.yaml'), 'utf8')
          .replace(/ {2}ReaderRole:[\s\S]*?(?=\nOutputs:)/, '')
          .replace(/ {2}RoleArn:\n.*\n/, ''),
        Parameters: [{ ParameterKey: 'Prefix', ParameterValue: spec.variables.Prefix as string }],
      }),
    );
    const report = await exec.detectDrift(spec, config, c.ctx);
    expect(report.drifted).toBe(true);
    expect(report.resources).toEqual([
      { address: 'ReaderRole', type: 'AWS::IAM::Role', change: 'deleted', severity: 'critical' },
    ]);
    expect(c.logs.map((l) => l.message).join('\n')).toMatch(/does not implement DetectStackDrift/);

    await cfn.send(new DeleteStackCommand({ StackName: `strata-cfn-demo-${spec.environment}` }));
    const gone = await exec.detectDrift(spec, config, ctxOf(spec, 'd3').ctx);
    expect(gone.drifted).toBe(true);
    expect(gone.resources.map((r) => `${r.change} ${r.address} ${r.severity}`).sort()).toEqual([
      'deleted Bucket critical',
      'deleted ReaderRole critical',
      'deleted Table critical',
    ]);
  });

  it('destroy plans every resource for deletion and deletes the stack; a second destroy has nothing to do', async () => {
    const spec = target();
    await deployed(spec, 'z1');
    const { plan, ctx } = await planned(spec, 'z2', true);
    expect(plan).toMatchObject({ destroyPlan: true, hasChanges: true, destroy: 3, add: 0 });
    const result = await exec.apply(spec, plan, ctx);
    expect(result).toMatchObject({ resources: [], outputs: {} });
    expect(await bucketExists(`${spec.variables.Prefix}-artifacts`)).toBe(false);
    await expect(
      cfn.send(new DescribeStacksCommand({ StackName: `strata-cfn-demo-${spec.environment}` })),
    ).rejects.toThrow(/does not exist/);
    const again = await planned(spec, 'z3', true);
    expect(again.plan).toMatchObject({ hasChanges: false, destroy: 0 });
  });
});
