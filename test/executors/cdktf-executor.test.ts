/**
 * The CDKTF executor: offline synth of stacks/web-aws (asserting the synthesized resources), synth
 * failures and hangs contained in the child process, and a local-provider CDKTF stack applied end to end
 * through the OpenTofu executor with the real pinned `tofu`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createCdktfExecutor, SYNTH_FILE } from '../../src/executors/cdktf/cdktf-executor';
import { synthStack } from '../../src/executors/cdktf/synth';
import { resolveCliConfig } from '../../src/executors/tofu/tool-env';
import type { StackSpec } from '../../src/executors/types';
import { projectRoot } from '../../src/shared/tools';
import { createHarness, isAlive, processesInGroup, type Harness } from '../helpers/executor-harness';
import { toolPath } from '../helpers/tools';

type Json = Record<string, any>;

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

const fixture = (name: string) => path.join(projectRoot, 'test', 'fixtures', name);

describe('CDKTF synth', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('cdktf-synth', 'web-aws');
  });
  afterAll(() => h.cleanup());

  test('stacks/web-aws synthesizes offline to the expected resources', async () => {
    const { config, stackId } = await synthStack({
      stackDir: path.join(projectRoot, 'stacks', 'web-aws'),
      variables: { instance_count: 4, instance_type: 't3.small', region: 'eu-west-1', replica_region: 'eu-central-1' },
      context: { stack: 'web-aws', environment: 'staging' },
      outdir: path.join(h.root, 'synth'),
    });
    expect(stackId).toBe('web-aws');
    const tf = config as Json;
    const res = tf.resource as Json;
    expect(Object.keys(res).sort()).toEqual([
      'aws_autoscaling_group',
      'aws_db_instance',
      'aws_launch_template',
      'aws_route53_record',
      'aws_route53_zone',
      'aws_s3_bucket',
    ]);
    expect(Object.keys(res.aws_s3_bucket)).toHaveLength(1);
    expect(Object.keys(res.aws_route53_record)).toHaveLength(3);
    const asg = Object.values(res.aws_autoscaling_group)[0] as Json;
    expect(asg).toMatchObject({ desired_capacity: 4, availability_zones: ['eu-west-1a', 'eu-west-1b'] });
    expect(asg.launch_template.id).toBe('${aws_launch_template.web.id}');
    expect((Object.values(res.aws_launch_template)[0] as Json).instance_type).toBe('t3.small');

    const dbs = Object.values(res.aws_db_instance) as Json[];
    expect(dbs).toHaveLength(2);
    const replicas = dbs.filter((d) => d.replicate_source_db);
    expect(replicas).toHaveLength(1);
    expect(replicas[0]).toMatchObject({ replicate_source_db: '${aws_db_instance.db.arn}', provider: 'aws.replica' });
    const providers = tf.provider.aws as Json[];
    expect(providers.map((p) => [p.alias ?? null, p.region])).toEqual([
      [null, 'eu-west-1'],
      ['replica', 'eu-central-1'],
    ]);
    // Strata owns state: the backend CDKTF adds by default is stripped.
    expect(tf.terraform.backend).toBeUndefined();
    expect(tf.terraform.required_providers.aws.source).toBe('aws');
  });

  test('a throwing stack fails with SYNTH_FAILED and its error', async () => {
    const err = await failureOf(
      synthStack({
        stackDir: fixture('cdktf-broken'),
        variables: {},
        context: { stack: 'broken', environment: 'test' },
        outdir: path.join(h.root, 'broken'),
      }),
    );
    expect(err.type).toBe('SYNTH_FAILED');
    expect(err.message).toMatch(/no bucket name given/);
  });

  test('a hanging stack is killed at its time limit, child and all', async () => {
    const beats: Json[] = [];
    const err = await failureOf(
      synthStack({
        stackDir: fixture('cdktf-hang'),
        variables: {},
        context: { stack: 'hang', environment: 'test' },
        outdir: path.join(h.root, 'hang'),
        timeoutMs: 3_000,
        heartbeat: (d) => beats.push(d as Json),
      }),
    );
    expect(err.type).toBe('SYNTH_FAILED');
    expect(err.message).toMatch(/did not finish within 3000 ms/);
    const pid = beats[0].pid as number;
    expect(isAlive(pid)).toBe(false);
    expect(processesInGroup(pid)).toEqual([]);
  });

  test('web-aws: prepare stores the synthesized JSON as the snapshot; init needs the AWS provider', async () => {
    const executor = createCdktfExecutor({ bin: toolPath('TOFU_BIN_RESOLVED'), cliConfigFile: resolveCliConfig({}) });
    const { ctx } = h.context('run-aws');
    const spec: StackSpec = {
      stack: 'web-aws',
      environment: 'test',
      executor: 'cdktf',
      path: path.join(projectRoot, 'stacks', 'web-aws'),
      variables: {},
    };
    const err = await failureOf(executor.prepare(spec, ctx));
    // The AWS provider is not in the offline mirror (see stacks/web-aws/README.md).
    expect(err.type).toBe('INIT_FAILED');
    expect(err.message).toMatch(/hashicorp\/aws/);
    const doc = JSON.parse((await h.artifacts.get('runs/run-aws/config.json')).toString('utf8')) as Json;
    expect(Object.keys(doc.files)).toEqual([SYNTH_FILE]);
    expect(JSON.parse(doc.files[SYNTH_FILE]).resource.aws_db_instance).toBeDefined();
  });
});

describe('CDKTF executor applies through OpenTofu', () => {
  let h: Harness;
  let outDir: string;
  let executor: ReturnType<typeof createCdktfExecutor>;
  const spec = (message?: string): StackSpec => ({
    stack: 'cdktf-local',
    environment: 'test',
    executor: 'cdktf',
    path: fixture('cdktf-local'),
    variables: { output_dir: outDir, ...(message ? { message } : {}) },
  });

  beforeAll(() => {
    h = createHarness('cdktf', 'cdktf-local');
    outDir = path.join(h.root, 'out');
    executor = createCdktfExecutor({ bin: toolPath('TOFU_BIN_RESOLVED'), cliConfigFile: resolveCliConfig({}) });
  });
  afterAll(() => h.cleanup());

  test('prepare → plan → apply → replan → destroy', async () => {
    const file = path.join(outDir, 'greeting-test.txt');
    const run1 = h.context('run-1');
    const config = await executor.prepare(spec(), run1.ctx);
    expect(config.executor).toBe('cdktf');
    const plan = await executor.plan(spec(), config, run1.ctx);
    expect(plan).toMatchObject({ add: 1, change: 0, destroy: 0 });
    expect(plan.resources).toEqual([
      expect.objectContaining({ address: 'local_file.greeting', type: 'local_file', action: 'create' }),
    ]);
    const result = await executor.apply(spec(), plan, run1.ctx);
    expect(fs.readFileSync(file, 'utf8')).toBe('hello from cdktf');
    expect(result.outputs.filename).toBe(file);

    const run2 = h.context('run-2');
    const changed = await executor.plan(spec('bye'), await executor.prepare(spec('bye'), run2.ctx), run2.ctx);
    expect(changed).toMatchObject({ add: 1, destroy: 1 });
    expect(changed.resources[0].action).toBe('replace');

    const run3 = h.context('run-3');
    const destroy = await executor.planDestroy(spec(), await executor.prepare(spec(), run3.ctx), run3.ctx);
    expect(destroy).toMatchObject({ destroy: 1, destroyPlan: true });
    await executor.apply(spec(), destroy, run3.ctx);
    expect(fs.existsSync(file)).toBe(false);
  });
});
