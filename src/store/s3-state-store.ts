/**
 * Versioned state in S3, laid out like the filesystem store:
 *
 *   <prefix>state/<stack>/<env>/current.json
 *   <prefix>state/<stack>/<env>/versions/0000000007.json
 *   <prefix>state/<stack>/<env>/apply-lease.json   the apply lease (see ApplyLease), updated with If-Match
 *
 * The version listing itself is the index (ListObjectsV2 is strongly consistent), so there is no separate
 * index object that could disagree with it. Numbers never repeat: pruning only removes the oldest, so the
 * highest number always survives and the next one is highest + 1. Each version object is created with
 * `If-None-Match: *`, so even two processes racing for the same number cannot overwrite each other: the
 * loser re-reads the listing and takes the next number. In-process calls are additionally serialized.
 * current.json is a compare-and-swap: the serial/lineage check is made on the object read, and the write is
 * conditional on that object's ETag (`If-Match`, or `If-None-Match: *` when there was none).
 * One version per (run, kind): recording it again returns the version already recorded.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ErrorCode, StrataError } from '../shared/errors';
import type { StateStoreOptions } from './fs-state-store';
import { checkName, checkVersion, parseVersionFileName, versionFileName } from './keys';
import { KeyedQueue } from './keyed-queue';
import { isNotFound, isPreconditionFailed, normalizePrefix, S3Objects } from './s3-util';
import { compareForWrite, currentDoc, stateConflict } from './state-cas';
import type {
  ApplyLease,
  CurrentState,
  ExpectedState,
  NewStateVersion,
  StateStore,
  StateStoreConnection,
  StateVersion,
} from './state-store';

const MAX_CREATE_ATTEMPTS = 5;
const MAX_LEASE_ATTEMPTS = 10;

/** S3 StateStore for multi-worker setups. */
export class S3StateStore implements StateStore {
  readonly retainVersions: number;
  private readonly objects: S3Objects;
  private readonly base: string;
  private readonly now: () => Date;
  private readonly queue = new KeyedQueue();

  /** Where this store lives, for another process to open it (StateStore.connection). */
  private readonly location: Omit<Extract<StateStoreConnection, { kind: 's3' }>, 'retainVersions'>;

  constructor(
    client: S3Client,
    opts: {
      bucket: string;
      prefix?: string;
      region?: string;
      endpoint?: string;
      forcePathStyle?: boolean;
    } & StateStoreOptions,
  ) {
    this.location = {
      kind: 's3',
      bucket: opts.bucket,
      prefix: opts.prefix,
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
    };
    this.objects = new S3Objects(client, opts.bucket);
    this.base = `${normalizePrefix(opts.prefix)}state/`;
    this.retainVersions = opts.retainVersions ?? 10;
    this.now = opts.now ?? (() => new Date());
    if (!Number.isInteger(this.retainVersions) || this.retainVersions < 1) {
      throw new RangeError(`retainVersions must be a positive integer, got ${this.retainVersions}`);
    }
  }

  private dir(stack: string, environment: string): string {
    return `${this.base}${checkName('stack', stack)}/${checkName('environment', environment)}/`;
  }

  private async readJson<T>(key: string): Promise<T | undefined> {
    const data = await this.objects.get(key);
    return data ? (JSON.parse(data.toString('utf8')) as T) : undefined;
  }

  /** Version numbers present, newest first. */
  private async numbers(dir: string): Promise<number[]> {
    const keys = await this.objects.list(`${dir}versions/`);
    return keys
      .map((k) => parseVersionFileName(k.slice(k.lastIndexOf('/') + 1)))
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => b - a);
  }

  async getCurrentState(stack: string, environment: string): Promise<CurrentState | undefined> {
    return this.readJson<CurrentState>(`${this.dir(stack, environment)}current.json`);
  }

  async putCurrentState(
    stack: string,
    environment: string,
    state: CurrentState,
    expected: ExpectedState,
  ): Promise<void> {
    const key = `${this.dir(stack, environment)}current.json`;
    const where = `${stack}/${environment}`;
    const doc = currentDoc(state);
    const stored = await this.objects.getWithEtag(key);
    const current = stored ? (JSON.parse(stored.data.toString('utf8')) as CurrentState) : undefined;
    if (compareForWrite(where, current, doc, expected) === 'same') return;
    try {
      // The ETag read above is what we compared; the write lands only if the object is still that one.
      await this.objects.put(key, JSON.stringify(doc), stored ? { ifMatch: stored.etag } : { ifNoneMatch: true });
    } catch (err) {
      // 412, or 404 for If-Match on an object deleted meanwhile: another writer got there first.
      if (isPreconditionFailed(err) || isNotFound(err)) {
        throw stateConflict(where, expected, await this.getCurrentState(stack, environment));
      }
      throw err;
    }
  }

  async getApplyLease(stack: string, environment: string): Promise<ApplyLease | undefined> {
    return this.readJson<ApplyLease>(`${this.dir(stack, environment)}apply-lease.json`);
  }

  async updateApplyLease(
    stack: string,
    environment: string,
    update: (current: ApplyLease | undefined) => ApplyLease | undefined,
  ): Promise<ApplyLease | undefined> {
    const key = `${this.dir(stack, environment)}apply-lease.json`;
    for (let attempt = 1; ; attempt++) {
      const stored = await this.objects.getWithEtag(key);
      const current = stored ? (JSON.parse(stored.data.toString('utf8')) as ApplyLease) : undefined;
      const next = update(current);
      if (next === undefined) return current;
      try {
        await this.objects.put(key, JSON.stringify(next), stored ? { ifMatch: stored.etag } : { ifNoneMatch: true });
        return next;
      } catch (err) {
        // Someone else changed the lease since we read it: decide again on what is there now.
        if ((isPreconditionFailed(err) || isNotFound(err)) && attempt < MAX_LEASE_ATTEMPTS) continue;
        if (isPreconditionFailed(err) || isNotFound(err)) {
          throw new StrataError(ErrorCode.CONFLICT, `apply lease of ${stack}/${environment} kept changing under us`);
        }
        throw err;
      }
    }
  }

  connection(): StateStoreConnection {
    return { ...this.location, retainVersions: this.retainVersions };
  }

  async recordVersion(v: NewStateVersion): Promise<StateVersion> {
    const dir = this.dir(v.stack, v.environment);
    return this.queue.run(dir, async () => {
      const createdAt = v.createdAt ?? this.now().toISOString();
      for (let attempt = 1; ; attempt++) {
        const existing = await this.numbers(dir);
        const earlier = await this.recordedBy(dir, existing, v);
        if (earlier) return earlier;
        const version: StateVersion = { ...v, version: (existing[0] ?? 0) + 1, createdAt };
        try {
          await this.objects.put(`${dir}versions/${versionFileName(version.version)}`, JSON.stringify(version), {
            ifNoneMatch: true,
          });
        } catch (err) {
          if (isPreconditionFailed(err) && attempt < MAX_CREATE_ATTEMPTS) continue;
          if (isPreconditionFailed(err)) {
            throw new StrataError(
              ErrorCode.CONFLICT,
              `could not claim a version number for ${dir} after ${attempt} attempts`,
            );
          }
          throw err;
        }
        // Another process recording the same run and kind at the same moment claimed a lower number: the lowest
        // one stands (each racer sees the other's number, so exactly one survives) and ours goes.
        const seen = new Set(existing);
        const racing = (await this.numbers(dir)).filter((n) => n < version.version && !seen.has(n));
        const twin = await this.recordedBy(dir, racing, v);
        if (twin) {
          await this.objects.delete(`${dir}versions/${versionFileName(version.version)}`);
          return twin;
        }
        const all = [version.version, ...existing];
        for (const n of all.slice(this.retainVersions))
          await this.objects.delete(`${dir}versions/${versionFileName(n)}`);
        return version;
      }
    });
  }

  /**
   * The version this run already recorded with this kind, among `numbers`: a retried recordVersion (its first
   * attempt wrote the version, then lost its completion) must get that one back, not a second one.
   */
  private async recordedBy(dir: string, numbers: number[], v: NewStateVersion): Promise<StateVersion | undefined> {
    for (const n of [...numbers].sort((a, b) => a - b)) {
      const found = await this.readJson<StateVersion>(`${dir}versions/${versionFileName(n)}`);
      if (found && found.deploymentId === v.deploymentId && found.kind === v.kind) return found;
    }
    return undefined;
  }

  async listVersions(stack: string, environment: string, limit?: number): Promise<StateVersion[]> {
    const dir = this.dir(stack, environment);
    const numbers = (await this.numbers(dir)).slice(0, this.retainVersions);
    const wanted = limit === undefined ? numbers : numbers.slice(0, Math.max(0, limit));
    const out: StateVersion[] = [];
    for (const n of wanted) {
      const v = await this.readJson<StateVersion>(`${dir}versions/${versionFileName(n)}`);
      if (v) out.push(v);
    }
    return out;
  }

  async getVersion(stack: string, environment: string, version: number): Promise<StateVersion | undefined> {
    return this.readJson<StateVersion>(
      `${this.dir(stack, environment)}versions/${versionFileName(checkVersion(version))}`,
    );
  }

  async latestVersion(stack: string, environment: string): Promise<StateVersion | undefined> {
    return (await this.listVersions(stack, environment, 1))[0];
  }
}
