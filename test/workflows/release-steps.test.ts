/**
 * The release workflow's pure steps: bounded parallelism that stops starting work after a failure, outputs wired
 * into variables, what a preview plans with, and when a run's plan is still the one the release was approved on.
 */
import type { ReleaseStackPlan } from '../../src/contracts/release';
import {
  boundedAll,
  downstreamOf,
  planMismatch,
  previewInputs,
  releaseDigest,
  wireInputs,
  type KnownOutputs,
} from '../../src/workflows/release-steps';

const plan = (inputs: ReleaseStackPlan['inputs']) =>
  ({ stack: 'app', wave: 1, dependsOn: [], inputs, run: {} }) as unknown as ReleaseStackPlan;
const ref = (variable: string, stack: string, output: string, takesText = true, hasDefault = true) => ({
  variable,
  stack,
  output,
  takesText,
  hasDefault,
});

describe('release steps', () => {
  it('runs at most `limit` at once and starts nothing after it is told to stop', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const skipped: number[] = [];
    let stop = false;
    await boundedAll(
      [1, 2, 3, 4, 5, 6],
      2,
      async (n) => {
        started.push(n);
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
        if (n === 3) stop = true;
      },
      () => stop,
      (n) => skipped.push(n),
    );
    expect(peak).toBe(2);
    expect(started).toEqual([1, 2, 3, 4]);
    expect(skipped).toEqual([5, 6]);
  });

  it('waits for every started item before rethrowing the first error', async () => {
    const finished: number[] = [];
    await expect(
      boundedAll(
        [1, 2],
        2,
        async (n) => {
          if (n === 1) throw new Error('one');
          await new Promise((r) => setImmediate(r));
          finished.push(n);
        },
        () => false,
        () => undefined,
      ),
    ).rejects.toThrow('one');
    expect(finished).toEqual([2]);
  });

  it('wires outputs into variables and names the missing ones', () => {
    const p = plan([ref('db', 'sim-db', 'database_endpoint'), ref('zone', 'sim-network', 'dns_name')]);
    const outputs = new Map([
      ['sim-db', { database_endpoint: 'db:5432' }],
      ['sim-network', { dns_name: null }],
    ]);
    expect(wireInputs(p, outputs)).toEqual({ variables: { db: 'db:5432' }, missing: ['sim-network.dns_name'] });
  });

  it('plans a preview with known values, and with placeholders for outputs the upstream changes', () => {
    const p = plan([
      ref('a', 'up', 'same'),
      ref('b', 'up', 'moves'),
      ref('c', 'up', 'moves', false),
      ref('d', 'new', 'x', true, true),
      ref('e', 'tofu', 'x'),
    ]);
    const known = new Map<string, KnownOutputs>([
      ['up', { values: { same: 1, moves: 'old' }, changing: new Set(['moves']) }],
      ['tofu', { values: { x: 'recorded' }, changing: 'all' }],
    ]);
    expect(previewInputs(p, known)).toEqual({
      variables: { a: 1, b: '(known after apply: up.moves)', c: 'old', d: '(known after apply: new.x)', e: 'recorded' },
      unknown: ['b', 'c', 'd', 'e'],
    });
  });

  it('accepts a run’s plan only when it changes the same resources and known inputs kept their values', () => {
    const preview = {
      changes: ['create aws_bucket.b', 'update aws_database.main'],
      variables: { zone: '(known after apply: up.dns)', size: 'small' },
      unknown: ['zone'],
    };
    const same = {
      resources: [
        { address: 'aws_database.main', type: 't', action: 'update' },
        { address: 'aws_bucket.b', type: 't', action: 'create' },
      ],
    };
    expect(planMismatch(preview, same, { zone: 'net.dev', size: 'small' })).toBeUndefined();
    expect(planMismatch(preview, same, { zone: 'net.dev', size: 'large' })).toBe(
      'variable size is "large" now, "small" when the release was approved',
    );
    const other = {
      resources: [
        { address: 'aws_database.main', type: 't', action: 'replace' },
        { address: 'aws_bucket.b', type: 't', action: 'create' },
      ],
    };
    expect(planMismatch(preview, other, { zone: 'x', size: 'small' })).toBe(
      'the plan changed since the release was approved (now replace aws_database.main, no longer update aws_database.main)',
    );
  });

  it('finds everything downstream, and digests plans stably', () => {
    const edges = [
      { from: 'net', to: 'db' },
      { from: 'db', to: 'app' },
      { from: 'net', to: 'cache' },
    ];
    expect([...downstreamOf('db', edges)]).toEqual(['app']);
    expect([...downstreamOf('net', edges)].sort()).toEqual(['app', 'cache', 'db']);
    expect(releaseDigest(['a:1', 'b:2'])).toBe(releaseDigest(['a:1', 'b:2']));
    expect(releaseDigest(['a:1', 'b:2'])).not.toBe(releaseDigest(['a:1', 'b:3']));
    expect(releaseDigest(['a'])).toMatch(/^release-[0-9a-f]{14}$/);
  });
});
