/**
 * One suite, two backends: the filesystem stores and the S3 stores against a moto server started here.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  createStores,
  type ApplyLease,
  type ArtifactStore,
  type NewStateVersion,
  type StateStore,
} from '../../src/store';
import { ErrorCode, StrataError } from '../../src/shared/errors';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../helpers/moto';

interface Backend {
  name: string;
  /**
   * S3 claims version numbers with If-None-Match, the filesystem store under a lock file, so even separate
   * store instances cannot collide.
   */
  conditionalWrites: boolean;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  make(retainVersions?: number): { artifacts: ArtifactStore; state: StateStore };
}

function fsBackend(): Backend {
  let root = '';
  return {
    name: 'filesystem',
    conditionalWrites: true,
    setup: async () => {
      root = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-store-'));
    },
    teardown: () => fs.rm(root, { recursive: true, force: true }),
    make: (retainVersions = 10) =>
      createStores(
        { kind: 'filesystem', path: path.join(root, 'state'), retainVersions },
        path.join(root, 'artifacts'),
      ),
  };
}

function s3Backend(): Backend {
  let moto: MotoServer | undefined;
  const bucket = 'strata-test';
  return {
    name: 's3 (moto)',
    conditionalWrites: true,
    setup: async () => {
      moto = await startMoto();
      const client = new S3Client({
        endpoint: moto.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: MOTO_CREDENTIALS,
      });
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
    teardown: async () => {
      await moto?.stop();
    },
    make: (retainVersions = 10) =>
      createStores(
        { kind: 's3', bucket, prefix: 'strata/', region: 'us-east-1', endpoint: moto!.endpoint, retainVersions },
        '/unused',
        { s3: { credentials: MOTO_CREDENTIALS } },
      ),
  };
}

let seq = 0;
/** Unique stack name per test so tests never see each other's versions. */
const uniqueStack = () => `stack-${process.pid}-${++seq}`;

function newVersion(stack: string, n: number, over: Partial<NewStateVersion> = {}): NewStateVersion {
  return {
    stack,
    environment: 'dev',
    deploymentId: `dep-${n}`,
    kind: 'deploy',
    planHash: `hash-${n}`,
    config: {
      ref: `runs/dep-${n}/config.json`,
      digest: `d${n}`,
      executor: 'simulated',
      variables: { instance_count: n },
    },
    outputs: { n },
    resources: [{ address: `aws_instance.web[${n}]`, type: 'aws_instance' }],
    state: JSON.stringify({ serial: n }),
    ...over,
  };
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, match?: RegExp): Promise<void> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(StrataError);
  expect((error as StrataError).code).toBe(code);
  if (match) expect((error as Error).message).toMatch(match);
}

describe.each([fsBackend(), s3Backend()])('state and artifact stores: $name', (backend) => {
  beforeAll(() => backend.setup(), 60_000);
  afterAll(() => backend.teardown());

  test('current state: absent, then put/get round-trips', async () => {
    const { state } = backend.make();
    const stack = uniqueStack();
    expect(await state.getCurrentState(stack, 'dev')).toBeUndefined();
    await state.putCurrentState(stack, 'dev', { body: '{"a":1}', serial: 1, lineage: 'L1' }, 'absent');
    expect(await state.getCurrentState(stack, 'dev')).toEqual({ body: '{"a":1}', serial: 1, lineage: 'L1' });
    await state.putCurrentState(
      stack,
      'dev',
      { body: '{"a":2}', serial: 2, lineage: 'L1', updatedBy: 'run-2' },
      { serial: 1, lineage: 'L1' },
    );
    expect(await state.getCurrentState(stack, 'dev')).toEqual({
      body: '{"a":2}',
      serial: 2,
      lineage: 'L1',
      updatedBy: 'run-2',
    });
    expect(await state.getCurrentState(stack, 'prod')).toBeUndefined();
  });

  test('two writers from the same base (as two processes): exactly one wins, the other gets STATE_CONFLICT', async () => {
    const stack = uniqueStack();
    const setup = backend.make().state;
    await setup.putCurrentState(stack, 'dev', { body: '{"base":true}', serial: 5, lineage: 'L' }, 'absent');
    for (let round = 0; round < 5; round++) {
      const base = (await setup.getCurrentState(stack, 'dev'))!;
      // Separate instances share nothing in memory, like workers on two machines.
      const writers = [1, 2, 3, 4].map((w) => ({ w, store: backend.make().state }));
      const results = await Promise.allSettled(
        writers.map(({ w, store }) =>
          store.putCurrentState(
            stack,
            'dev',
            // Different serials on purpose: a later serial must not win over an earlier one from the same base.
            { body: `{"round":${round},"writer":${w}}`, serial: base.serial + w, lineage: 'L', updatedBy: `run-${w}` },
            { serial: base.serial, lineage: base.lineage },
          ),
        ),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [writers[i].w] : []));
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(StrataError);
          expect((r.reason as StrataError).code).toBe(ErrorCode.STATE_CONFLICT);
        }
      }
      expect(await setup.getCurrentState(stack, 'dev')).toMatchObject({
        body: `{"round":${round},"writer":${won[0]}}`,
        serial: base.serial + won[0],
        updatedBy: `run-${won[0]}`,
      });
    }
  });

  test('a write from a base the state has moved past, or a create over an existing state, is refused', async () => {
    const { state } = backend.make();
    const stack = uniqueStack();
    await expectCode(
      state.putCurrentState(stack, 'dev', { body: '{}', serial: 2, lineage: 'L' }, { serial: 1, lineage: 'L' }),
      ErrorCode.STATE_CONFLICT,
      /no state/,
    );
    await state.putCurrentState(stack, 'dev', { body: '{"v":1}', serial: 1, lineage: 'L' }, 'absent');
    await expectCode(
      state.putCurrentState(stack, 'dev', { body: '{"v":"other"}', serial: 1, lineage: 'M' }, 'absent'),
      ErrorCode.STATE_CONFLICT,
      /serial 1/,
    );
    await state.putCurrentState(
      stack,
      'dev',
      { body: '{"v":2}', serial: 2, lineage: 'L' },
      { serial: 1, lineage: 'L' },
    );
    await expectCode(
      state.putCurrentState(stack, 'dev', { body: '{"v":3}', serial: 3, lineage: 'L' }, { serial: 1, lineage: 'L' }),
      ErrorCode.STATE_CONFLICT,
    );
    await expectCode(
      state.putCurrentState(stack, 'dev', { body: '{"v":3}', serial: 3, lineage: 'L' }, { serial: 2, lineage: 'X' }),
      ErrorCode.STATE_CONFLICT,
    );
    // Repeating the write that won (a retry whose first attempt landed) is not a conflict.
    await state.putCurrentState(
      stack,
      'dev',
      { body: '{"v":2}', serial: 2, lineage: 'L' },
      { serial: 1, lineage: 'L' },
    );
    expect(await state.getCurrentState(stack, 'dev')).toEqual({ body: '{"v":2}', serial: 2, lineage: 'L' });
  });

  test('apply lease: of concurrent takers (as two processes) exactly one gets it; a release frees it', async () => {
    const stack = uniqueStack();
    const lease = (token: string): ApplyLease => ({
      runId: `run-${token}`,
      token,
      holder: `host:${token}`,
      phase: 'acquired',
      ttlMs: 30_000,
      seq: 0,
      renewedAt: new Date().toISOString(),
    });
    const take = (token: string) => (current: ApplyLease | undefined) =>
      !current || current.released ? lease(token) : undefined;
    const takers = ['a', 'b', 'c', 'd'].map((t) => ({ t, store: backend.make().state }));
    const after = await Promise.all(takers.map(({ t, store }) => store.updateApplyLease(stack, 'dev', take(t))));
    const holder = after[0]!.token;
    // Everyone sees the same holder, and it is one of them.
    expect(after.map((l) => l!.token)).toEqual([holder, holder, holder, holder]);
    expect(['a', 'b', 'c', 'd']).toContain(holder);
    const state = backend.make().state;
    expect((await state.getApplyLease(stack, 'dev'))!.token).toBe(holder);
    // A renewal by the holder lands; one by anyone else changes nothing.
    const renew = (token: string) => (c: ApplyLease | undefined) =>
      c && c.token === token ? { ...c, seq: c.seq + 1 } : undefined;
    expect((await state.updateApplyLease(stack, 'dev', renew(holder)))!.seq).toBe(1);
    const other = holder === 'a' ? 'b' : 'a';
    expect((await state.updateApplyLease(stack, 'dev', renew(other)))!).toMatchObject({ token: holder, seq: 1 });
    await state.updateApplyLease(stack, 'dev', (c) =>
      c ? { ...c, released: { at: new Date().toISOString(), by: 'test', outcome: 'no-tool' } } : undefined,
    );
    expect((await state.updateApplyLease(stack, 'dev', take(other)))!.token).toBe(other);
    expect(state.connection().kind).toBe(backend.name === 'filesystem' ? 'filesystem' : 's3');
  });

  test('record, list (newest first), get and latest', async () => {
    const { state } = backend.make();
    const stack = uniqueStack();
    expect(await state.latestVersion(stack, 'dev')).toBeUndefined();
    expect(await state.listVersions(stack, 'dev')).toEqual([]);
    const v1 = await state.recordVersion(newVersion(stack, 1));
    const v2 = await state.recordVersion(newVersion(stack, 2, { kind: 'rollback', restoredFrom: 1 }));
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(v2.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(v2).toMatchObject({ kind: 'rollback', restoredFrom: 1, planHash: 'hash-2', outputs: { n: 2 } });
    expect((await state.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([2, 1]);
    expect((await state.listVersions(stack, 'dev', 1)).map((v) => v.version)).toEqual([2]);
    expect(await state.getVersion(stack, 'dev', 1)).toEqual(v1);
    expect(await state.getVersion(stack, 'dev', 3)).toBeUndefined();
    expect(await state.latestVersion(stack, 'dev')).toEqual(v2);
    // Environments are independent.
    expect(await state.latestVersion(stack, 'prod')).toBeUndefined();
  });

  test('numbers increase monotonically, also for concurrent calls in one process', async () => {
    const { state } = backend.make();
    const stack = uniqueStack();
    const recorded = await Promise.all([1, 2, 3, 4, 5].map((n) => state.recordVersion(newVersion(stack, n))));
    expect(recorded.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
    expect((await state.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
  });

  if (backend.conditionalWrites) {
    test('separate store instances (as two processes) racing never claim the same number', async () => {
      const stack = uniqueStack();
      const stores = [1, 2, 3, 4].map(() => backend.make().state);
      const recorded = await Promise.all(stores.map((s, i) => s.recordVersion(newVersion(stack, i + 1))));
      expect(recorded.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
      const listed = await stores[0].listVersions(stack, 'dev');
      expect(listed.map((v) => v.version)).toEqual([4, 3, 2, 1]);
      expect(new Set(listed.map((v) => v.deploymentId)).size).toBe(4);
    });
  }

  test('a retried recordVersion of the same run and kind returns the first version, not a new one', async () => {
    const { state } = backend.make(3);
    const stack = uniqueStack();
    const first = await state.recordVersion(newVersion(stack, 1));
    // The retry of an activity whose first write succeeded (its completion was lost): same run, same kind.
    const again = await state.recordVersion(newVersion(stack, 1));
    expect(again.version).toBe(first.version);
    expect(again).toEqual(first);
    // Another store instance (the retry ran on another worker) sees the same.
    expect((await backend.make(3).state.recordVersion(newVersion(stack, 1))).version).toBe(first.version);
    expect((await state.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([1]);
    // The same run's automatic rollback is another kind: a version of its own.
    const rollback = await state.recordVersion(newVersion(stack, 1, { kind: 'rollback', restoredFrom: 1 }));
    expect(rollback.version).toBe(2);
    expect((await state.recordVersion(newVersion(stack, 1, { kind: 'rollback', restoredFrom: 1 }))).version).toBe(2);
    expect((await state.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([2, 1]);
  });

  test('concurrent retries of one recordVersion in one process still make one version', async () => {
    const { state } = backend.make();
    const stack = uniqueStack();
    const recorded = await Promise.all([1, 2, 3].map(() => state.recordVersion(newVersion(stack, 7))));
    expect(new Set(recorded.map((v) => v.version))).toEqual(new Set([1]));
    expect((await state.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([1]);
  });

  test('retention prunes beyond N and never reuses a pruned number', async () => {
    const { state } = backend.make(3);
    expect(state.retainVersions).toBe(3);
    const stack = uniqueStack();
    for (let n = 1; n <= 5; n++) await state.recordVersion(newVersion(stack, n));
    expect((await state.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([5, 4, 3]);
    expect(await state.getVersion(stack, 'dev', 1)).toBeUndefined();
    expect(await state.getVersion(stack, 'dev', 2)).toBeUndefined();
    // A fresh store instance (another worker, a restart) continues from the persisted high-water mark.
    const again = backend.make(3).state;
    expect((await again.recordVersion(newVersion(stack, 6))).version).toBe(6);
    expect((await again.listVersions(stack, 'dev')).map((v) => v.version)).toEqual([6, 5, 4]);
  });

  test('default retention is 10', async () => {
    const { state } = backend.make();
    expect(state.retainVersions).toBe(10);
    const stack = uniqueStack();
    for (let n = 1; n <= 12; n++) await state.recordVersion(newVersion(stack, n));
    const versions = (await state.listVersions(stack, 'dev')).map((v) => v.version);
    expect(versions).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3]);
  });

  test('artifacts: put/get/exists/delete', async () => {
    const { artifacts } = backend.make();
    const key = `runs/${uniqueStack()}/plan.json`;
    expect(await artifacts.exists(key)).toBe(false);
    await expectCode(artifacts.get(key), ErrorCode.NOT_FOUND, /not found/);
    await artifacts.put(key, '{"plan":1}');
    expect(await artifacts.exists(key)).toBe(true);
    expect((await artifacts.get(key)).toString()).toBe('{"plan":1}');
    const bytes = Buffer.from([0, 1, 2, 255]);
    await artifacts.put(key, bytes);
    expect(await artifacts.get(key)).toEqual(bytes);
    await artifacts.delete(key);
    expect(await artifacts.exists(key)).toBe(false);
    await artifacts.delete(key); // idempotent
  });

  test('path traversal and absolute keys are rejected with a clear error', async () => {
    const { artifacts, state } = backend.make();
    for (const bad of ['../escape', 'runs/../../etc/passwd', '/etc/passwd', 'runs\\x', 'runs//x', './x', '']) {
      await expectCode(artifacts.put(bad, 'x'), ErrorCode.VALIDATION_FAILED, /invalid artifact key/);
      await expectCode(artifacts.get(bad), ErrorCode.VALIDATION_FAILED);
    }
    await expectCode(artifacts.get('../x'), ErrorCode.VALIDATION_FAILED, /path traversal/);
    await expectCode(artifacts.put('/abs', 'x'), ErrorCode.VALIDATION_FAILED, /absolute/);
    await expectCode(state.getCurrentState('..', 'dev'), ErrorCode.VALIDATION_FAILED, /invalid stack/);
    await expectCode(
      state.putCurrentState('ok', '../prod', { body: '', serial: 0, lineage: '' }, 'absent'),
      ErrorCode.VALIDATION_FAILED,
    );
    await expectCode(state.recordVersion(newVersion('a/b', 1)), ErrorCode.VALIDATION_FAILED, /invalid stack/);
    await expectCode(state.getVersion('ok', 'dev', -1), ErrorCode.VALIDATION_FAILED, /invalid version/);
  });
});
