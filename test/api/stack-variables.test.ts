/** The declared-variables reader (HCL variable blocks, stack.yaml) and the request schemas the API builds from it. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deploymentBodies, stackDeploymentBody } from '../../src/api/deployments/schemas';
import { declaredVariables, parseTypeExpression } from '../../src/shared/stack-variables';

function tofuStack(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-vars-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('declared variables', () => {
  it('parses OpenTofu type constraints, and anything unknown as any', () => {
    expect(parseTypeExpression('${map(list(number))}')).toEqual({
      kind: 'map',
      element: { kind: 'list', element: { kind: 'number' } },
    });
    expect(parseTypeExpression('${object({ a = optional(string, "x)"), b = set(bool) })}')).toEqual({
      kind: 'object',
      attributes: {
        a: { type: { kind: 'string' }, optional: true },
        b: { type: { kind: 'list', element: { kind: 'bool' } }, optional: false },
      },
    });
    expect(parseTypeExpression('${tuple([string, number])}')).toEqual({
      kind: 'tuple',
      elements: [{ kind: 'string' }, { kind: 'number' }],
    });
    expect(parseTypeExpression('${something(new)}')).toEqual({ kind: 'any' });
  });

  it('reads variable blocks of .tf and .tf.json files and checks request values against them', async () => {
    const dir = tofuStack({
      'variables.tf': `
        variable "region" { type = string }
        variable "replicas" {
          type     = number
          default  = 1
          nullable = false
        }
        variable "tags" {
          type    = map(string)
          default = {}
        }
        variable "rules" {
          type    = list(object({ port = number, cidr = optional(string) }))
          default = []
        }
        variable "anything" { default = null }`,
      'extra.tf.json': JSON.stringify({ variable: { flag: { type: 'bool', default: false } } }),
    });
    const declared = await declaredVariables({ executor: 'tofu', path: dir });
    expect(Object.keys(declared!.variables).sort()).toEqual([
      'anything',
      'flag',
      'region',
      'replicas',
      'rules',
      'tags',
    ]);
    expect(declared!.variables.region).toMatchObject({ required: true, nullable: true });
    expect(declared!.variables.replicas).toMatchObject({ required: false, nullable: false });

    const body = stackDeploymentBody('net', ['dev'], declared, {});
    const ok = (variables: unknown) => body.safeParse({ stack: 'net', environment: 'dev', variables }).success;
    const issues = (variables: unknown) =>
      body
        .safeParse({ stack: 'net', environment: 'dev', variables })
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

    expect(
      ok({
        region: 'eu',
        rules: [{ port: 443 }, { port: '80', cidr: '0.0.0.0/0' }],
        tags: { a: 'b' },
        flag: 'true',
        anything: { x: [1] },
      }),
    ).toBe(true);
    expect(issues({})).toEqual(['variables.region: must be a string, got undefined']);
    expect(issues({ region: 'eu', replicas: null })).toEqual(['variables.replicas: must be a number, got null']);
    expect(issues({ region: 'eu', rules: [{ prot: 1 }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^variables\.rules\.0/)]),
    );
    expect(issues({ region: 'eu', tags: ['x'] })).toEqual(['variables.tags: must be a map, got an array']);
    expect(issues({ region: 'eu', regoin: 'x' })).toEqual([
      'variables: unknown variable "regoin": stack net declares flag, anything, region, replicas, rules, tags',
    ]);
    // A value strata.yaml gives for the stack counts as given.
    expect(
      stackDeploymentBody('net', ['dev'], declared, { region: 'eu' }).safeParse({ stack: 'net', environment: 'dev' })
        .success,
    ).toBe(true);
  });

  it('reads a simulated stack.yaml; CDKTF stacks declare nothing readable and pass unchecked', async () => {
    const sim = await declaredVariables({
      executor: 'simulated',
      path: path.resolve(__dirname, '../../stacks/sim-multicloud'),
    });
    expect(sim!.variables.instance_count).toMatchObject({ type: { kind: 'number' }, required: false });
    expect(sim!.variables.providers.type).toEqual({ kind: 'string-list' });
    expect(
      await declaredVariables({ executor: 'cdktf', path: path.resolve(__dirname, '../../stacks/web-aws') }),
    ).toBeUndefined();
  });

  it('re-reads a stack whose files changed', async () => {
    const dir = tofuStack({ 'variables.tf': 'variable "a" {}' });
    expect(Object.keys((await declaredVariables({ executor: 'tofu', path: dir }))!.variables)).toEqual(['a']);
    fs.writeFileSync(path.join(dir, 'more.tf'), 'variable "b" {}');
    expect(Object.keys((await declaredVariables({ executor: 'tofu', path: dir }))!.variables).sort()).toEqual([
      'a',
      'b',
    ]);
  });

  it('reuses a stack request schema until its files change, then checks against the new declarations', async () => {
    const dir = tofuStack({ 'variables.tf': 'variable "a" {}' });
    const config = {
      environments: { dev: {} },
      stacks: { s: { executor: 'tofu', path: dir, variables: {} } },
    } as unknown as Parameters<typeof deploymentBodies>[0];
    const body = { stack: 's', environment: 'dev', variables: { a: 1, b: 1 } };
    const first = (await deploymentBodies(config)).get('s')!;
    expect((await deploymentBodies(config)).get('s')).toBe(first);
    expect(first.safeParse(body).success).toBe(false);
    fs.writeFileSync(path.join(dir, 'more.tf'), 'variable "b" {}');
    const next = (await deploymentBodies(config)).get('s')!;
    expect(next).not.toBe(first);
    expect(next.safeParse(body).success).toBe(true);
  });
});

describe('declared variables of the CloudFormation and Kubernetes engines', () => {
  const root = path.resolve(__dirname, '../..');

  it('a CloudFormation stack declares its template Parameters; a value for anything else is refused', async () => {
    const declared = await declaredVariables({ executor: 'cloudformation', path: path.join(root, 'stacks/cfn-demo') });
    expect(Object.keys(declared!.variables).sort()).toEqual(['Prefix', 'TableReadCapacity']);
    const schema = stackDeploymentBody('cfn-demo', ['dev'], declared, {});
    expect(
      schema.safeParse({ stack: 'cfn-demo', environment: 'dev', variables: { Prefix: 'x', TableReadCapacity: 2 } })
        .success,
    ).toBe(true);
    const bad = schema.safeParse({ stack: 'cfn-demo', environment: 'dev', variables: { Nope: 1 } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0].message).toBe(
      'unknown variable "Nope": stack cfn-demo declares Prefix, TableReadCapacity',
    );
  });

  it('a Kubernetes manifests stack declares no variables, so any variable is refused before a run starts', async () => {
    const declared = await declaredVariables({ executor: 'kubernetes', path: path.join(root, 'stacks/k8s-demo') });
    expect(declared).toMatchObject({ variables: {} });
    const schema = stackDeploymentBody('k8s-demo', ['dev'], declared, {});
    expect(schema.safeParse({ stack: 'k8s-demo', environment: 'dev' }).success).toBe(true);
    expect(schema.safeParse({ stack: 'k8s-demo', environment: 'dev', variables: { replicas: 3 } }).success).toBe(false);
  });
});
