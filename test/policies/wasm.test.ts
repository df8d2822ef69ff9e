/**
 * The committed Wasm bundle of the shipped policies (policies-wasm/, `npm run policy:wasm`) is what the pinned OPA
 * compiles from policies/ as they are now, and it judges every input exactly as a real `opa eval` does: a fresh
 * machine, which judges plans with it until OPA is built, gets the findings OPA would give.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluatePolicies, policyFindings } from '../../src/activities/policy/opa';
import {
  loadWasmPolicy,
  policySourceHash,
  readWasmManifest,
  SHIPPED_WASM_DIR,
  type WasmPolicy,
} from '../../src/activities/policy/wasm';
import { toolPath } from '../helpers/tools';

const root = path.resolve(__dirname, '..', '..');
const dir = path.join(root, 'policies');

const bucket = (address: string, after: Record<string, unknown> | null, action = 'create', type = 'aws_bucket') => ({
  address,
  type,
  action,
  before: null,
  after,
});
const instances = (n: number, type = 'aws_instance') =>
  Array.from({ length: n }, (_, i) => ({ address: `${type}.web[${i}]`, type }));
const cost = (before: number, after: number, unpriced: string[] = []) => ({
  monthlyBefore: before,
  monthlyAfter: after,
  monthlyDelta: after - before,
  currency: 'USD',
  unpriced,
  priceTable: 'pricing/2026-11-01.yaml',
});

/** The documents of test/policies/opa.test.ts and policies/*_test.rego, and the edges of every rule. */
const inputs: Record<string, unknown> = {
  'empty document': {},
  'the policy test plan: a public bucket, 18 instances in prod': {
    environment: 'prod',
    flags: {},
    plan: { resource_changes: [bucket('aws_bucket.assets', { acl: 'public-read' })] },
    resources: instances(18),
    cost: null,
  },
  'every public bucket form at once': {
    environment: 'dev',
    plan: {
      resource_changes: [
        bucket('aws_bucket.a', { acl: 'public-read-write' }),
        bucket('gcp_bucket.b', { public: true }, 'update', 'gcp_bucket'),
        bucket('aws_s3_bucket.c', { acl: 'authenticated-read' }, 'replace', 'aws_s3_bucket'),
        bucket('azurerm_storage_container.d', { public: true, acl: 'private' }, 'create', 'azurerm_storage_container'),
        bucket(
          'aws_s3_bucket_public_access_block.e',
          {
            block_public_acls: false,
            block_public_policy: true,
            ignore_public_acls: false,
            restrict_public_buckets: null,
          },
          'update',
          'aws_s3_bucket_public_access_block',
        ),
      ],
    },
  },
  'private, unknown and deleted buckets pass': {
    environment: 'prod',
    plan: {
      resource_changes: [
        bucket('aws_bucket.p', { acl: 'private', public: false }),
        bucket('aws_s3_bucket.u', null, 'create', 'aws_s3_bucket'),
        bucket('aws_bucket.d', { acl: 'public-read' }, 'delete'),
        bucket('aws_instance.i', { acl: 'public-read' }, 'create', 'aws_instance'),
        bucket('aws_bucket.n', { acl: 7, public: 'true' }),
      ],
    },
  },
  'databases deleted and replaced': {
    plan: {
      resource_changes: [
        { address: 'aws_database.main', type: 'aws_database', action: 'delete' },
        { address: 'aws_db_instance.db', type: 'aws_db_instance', action: 'replace' },
        { address: 'aws_rds_cluster.c', type: 'aws_rds_cluster', action: 'update' },
        { address: 'google_sql_database_instance.g', type: 'google_sql_database_instance', action: 'delete' },
      ],
    },
  },
  'databases deleted with the explicit flag': {
    flags: { allow_database_deletion: true },
    plan: { resource_changes: [{ address: 'aws_database.main', type: 'aws_database', action: 'delete' }] },
  },
  'databases deleted with the flag false': {
    flags: { allow_database_deletion: false },
    plan: { resource_changes: [{ address: 'aws_dynamodb_table.t', type: 'aws_dynamodb_table', action: 'delete' }] },
  },
  '25 instances in prod': { environment: 'prod', resources: instances(25) },
  '20 instances in prod': { environment: 'prod', resources: instances(20) },
  '16 instances in prod (at 80 %)': { environment: 'prod', resources: instances(16) },
  '17 instances of three kinds in prod, and a bucket': {
    environment: 'prod',
    resources: [
      ...instances(10),
      ...instances(4, 'google_compute_instance'),
      ...instances(3, 'azurerm_linux_virtual_machine'),
      { address: 'aws_bucket.b', type: 'aws_bucket' },
    ],
  },
  '100 instances in dev': { environment: 'dev', resources: instances(100) },
  'a big cost increase with unpriced resources': { cost: cost(10, 55.55, ['aws_quantum_computer.q', 'x.y']) },
  'a small cost increase': { cost: cost(10, 15) },
  'cost deltas that round': { cost: cost(1, 50.555) },
  'a cost decrease': { cost: cost(100, 10) },
  'a whole simulated plan': {
    stack: 'sim-multicloud',
    environment: 'prod',
    requester: 'alice',
    kind: 'deploy',
    flags: {},
    plan: {
      add: 3,
      change: 1,
      destroy: 1,
      destroy_plan: false,
      resource_changes: [
        bucket('aws_bucket.assets', { bucket_name: 'assets', acl: 'public-read' }),
        {
          address: 'aws_database.db',
          type: 'aws_database',
          action: 'replace',
          before: { size: 1 },
          after: { size: 2 },
        },
      ],
    },
    resources: [...instances(19), { address: 'aws_bucket.assets', type: 'aws_bucket', attributes: {} }],
    resources_before: [],
    cost: cost(0, 45.55, ['aws_thing.t']),
  },
};

let wasm: WasmPolicy;
beforeAll(async () => {
  wasm = await loadWasmPolicy(SHIPPED_WASM_DIR, readWasmManifest(SHIPPED_WASM_DIR)!);
});

describe('policies-wasm/', () => {
  it('was compiled from policies/ as they are now (else: npm run policy:wasm)', () => {
    const manifest = readWasmManifest(SHIPPED_WASM_DIR);
    const now = policySourceHash(dir);
    if (manifest?.sourceHash !== now)
      throw new Error(
        `policies-wasm/manifest.json says ${manifest?.sourceHash}, policies/ hash to ${now}: ` +
          'after editing a policy, run `npm run policy:wasm` and commit policies-wasm/',
      );
    expect(manifest.entrypoint).toBe('strata_wasm/tree');
  });

  it('is what the pinned OPA compiles from them: a rebuild gives the same bytes', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-policy-wasm-test-'));
    try {
      execFileSync(
        process.execPath,
        ['--import', 'tsx', path.join(root, 'scripts', 'build-policy-wasm.ts'), '--out', out],
        { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      for (const f of ['manifest.json', 'policy.wasm', 'data.json'])
        expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(SHIPPED_WASM_DIR, f)))).toBe(true);
      expect(readWasmManifest(out)!.opaVersion).toBe(
        /^Version: (\S+)$/m.exec(execFileSync(toolPath('OPA_BIN'), ['version'], { encoding: 'utf8' }))![1],
      );
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it.each(Object.entries(inputs))('judges %s as opa eval does', async (_name, input) => {
    const viaOpa = await evaluatePolicies({ bin: toolPath('OPA_BIN'), dir, timeoutMs: 30_000 }, input);
    const viaWasm = policyFindings(wasm.evaluate(input));
    expect(viaWasm).toEqual(viaOpa);
  });

  it('prints an amount that is exactly half a cent by the SDK sprintf: rounded up, where OPA rounds to even', async () => {
    // The one known difference: Go rounds an exact binary tie (26.125) to even, the SDK's sprintf (JavaScript's
    // toFixed) up. The findings are the same; only such a message's last digit differs.
    const input = { cost: cost(0, 26.125) };
    const viaOpa = await evaluatePolicies({ bin: toolPath('OPA_BIN'), dir, timeoutMs: 30_000 }, input);
    const viaWasm = policyFindings(wasm.evaluate(input));
    const withoutMessage = (rs: typeof viaOpa) => rs.map(({ policy, rule, level }) => ({ policy, rule, level }));
    expect(withoutMessage(viaWasm)).toEqual(withoutMessage(viaOpa));
    expect(viaOpa.map((r) => r.message)).toEqual(['monthly cost rises by 26.12 USD (0.00 → 26.12)']);
    expect(viaWasm.map((r) => r.message)).toEqual(['monthly cost rises by 26.13 USD (0.00 → 26.13)']);
  });

  it('the inputs reach every rule of every shipped policy', async () => {
    const seen = new Set<string>();
    for (const input of Object.values(inputs))
      for (const r of policyFindings(wasm.evaluate(input))) seen.add(`${r.policy}.${r.rule}`);
    expect([...seen].sort()).toEqual([
      'cost_guard.monthly_increase',
      'cost_guard.unpriced',
      'database_deletion.database_deletion',
      'instance_ceiling.instance_ceiling',
      'instance_ceiling.near_ceiling',
      'no_public_buckets.public_access_block_off',
      'no_public_buckets.public_bucket',
    ]);
  });

  it('gives the whole data.strata document, as opa eval does', async () => {
    const input = inputs['a whole simulated plan'];
    const out = JSON.parse(
      execFileSync(
        toolPath('OPA_BIN'),
        ['eval', '--format', 'json', '--data', dir, '--ignore', '*_test.rego', '--stdin-input', 'data.strata'],
        { input: JSON.stringify(input), encoding: 'utf8' },
      ),
    ) as { result: { expressions: { value: unknown }[] }[] };
    const sortSets = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sortSets).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, x]) => [k, sortSets(x)]),
            )
          : v;
    expect(sortSets(wasm.evaluate(input))).toEqual(sortSets(out.result[0].expressions[0].value));
  });
});
