/**
 * Versioned state on the local filesystem, one directory per stack/environment:
 *
 *   <root>/<stack>/<env>/current.json            engine state (body, serial, lineage)
 *   <root>/<stack>/<env>/index.json              { lastVersion, versions: [summary, ...] } oldest first
 *   <root>/<stack>/<env>/apply-lease.json        the apply lease (see ApplyLease)
 *   <root>/<stack>/<env>/versions/0000000007.json one StateVersion per file
 *
 * Every file is written atomically (temp + rename), under `<root>/<stack>/<env>/.lock` (an O_EXCL lock file) so
 * that processes sharing the directory take turns: current.json is a compare-and-swap on serial/lineage, and
 * version numbers are claimed one writer at a time. The store never reuses a version number: the next
 * number is one past the highest ever seen (index high-water mark or any file on disk, whichever is larger).
 * One version per (run, kind): recording it again returns the version already recorded.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type {
  ApplyLease,
  CurrentState,
  ExpectedState,
  NewStateVersion,
  StateStore,
  StateStoreConnection,
  StateVersion,
} from './state-store';
import { readdirOrEmpty, readFileOrUndefined, withFileLock, writeFileAtomic } from './fs-util';
import { compareForWrite, currentDoc } from './state-cas';
import { checkName, checkVersion, parseVersionFileName, versionFileName } from './keys';
import { KeyedQueue } from './keyed-queue';

/** Held (briefly) by every writer of a stack/environment's files, in any process sharing the directory. */
const LOCK_FILE = '.lock';
const LEASE_FILE = 'apply-lease.json';

interface VersionSummary {
  version: number;
  createdAt: string;
  kind: string;
  deploymentId: string;
  planHash: string;
}

interface VersionIndex {
  lastVersion: number;
  versions: VersionSummary[];
}

/** Options shared by both state store implementations. */
export interface StateStoreOptions {
  /** How many versions to keep per stack/environment (default 10). */
  retainVersions?: number;
  /** Clock for createdAt; tests pin it. */
  now?: () => Date;
}

/** Filesystem StateStore (the default for a single worker machine). */
export class FsStateStore implements StateStore {
  readonly root: string;
  readonly retainVersions: number;
  private readonly now: () => Date;
  private readonly queue = new KeyedQueue();

  constructor(root: string, opts: StateStoreOptions = {}) {
    this.root = path.resolve(root);
    this.retainVersions = opts.retainVersions ?? 10;
    this.now = opts.now ?? (() => new Date());
    if (!Number.isInteger(this.retainVersions) || this.retainVersions < 1) {
      throw new RangeError(`retainVersions must be a positive integer, got ${this.retainVersions}`);
    }
  }

  private dir(stack: string, environment: string): string {
    return path.join(this.root, checkName('stack', stack), checkName('environment', environment));
  }

  private async readJson<T>(file: string): Promise<T | undefined> {
    const data = await readFileOrUndefined(file);
    return data ? (JSON.parse(data.toString('utf8')) as T) : undefined;
  }

  async getCurrentState(stack: string, environment: string): Promise<CurrentState | undefined> {
    return this.readJson<CurrentState>(path.join(this.dir(stack, environment), 'current.json'));
  }

  async putCurrentState(
    stack: string,
    environment: string,
    state: CurrentState,
    expected: ExpectedState,
  ): Promise<void> {
    const dir = this.dir(stack, environment);
    const doc = currentDoc(state);
    await withFileLock(path.join(dir, LOCK_FILE), async () => {
      const stored = await this.readJson<CurrentState>(path.join(dir, 'current.json'));
      if (compareForWrite(`${stack}/${environment}`, stored, doc, expected) === 'same') return;
      await writeFileAtomic(path.join(dir, 'current.json'), JSON.stringify(doc));
    });
  }

  async getApplyLease(stack: string, environment: string): Promise<ApplyLease | undefined> {
    return this.readJson<ApplyLease>(path.join(this.dir(stack, environment), LEASE_FILE));
  }

  async updateApplyLease(
    stack: string,
    environment: string,
    update: (current: ApplyLease | undefined) => ApplyLease | undefined,
  ): Promise<ApplyLease | undefined> {
    const dir = this.dir(stack, environment);
    return withFileLock(path.join(dir, LOCK_FILE), async () => {
      const current = await this.readJson<ApplyLease>(path.join(dir, LEASE_FILE));
      const next = update(current);
      if (next === undefined) return current;
      await writeFileAtomic(path.join(dir, LEASE_FILE), JSON.stringify(next));
      return next;
    });
  }

  connection(): StateStoreConnection {
    return { kind: 'filesystem', path: this.root, retainVersions: this.retainVersions };
  }

  async recordVersion(v: NewStateVersion): Promise<StateVersion> {
    const dir = this.dir(v.stack, v.environment);
    // The queue orders this process's callers; the lock file orders processes (other workers on a shared disk).
    return this.queue.run(dir, () => withFileLock(path.join(dir, LOCK_FILE), () => this.recordLocked(dir, v)));
  }

  private async recordLocked(dir: string, v: NewStateVersion): Promise<StateVersion> {
    const index = (await this.readJson<VersionIndex>(path.join(dir, 'index.json'))) ?? {
      lastVersion: 0,
      versions: [],
    };
    // A crash between writing a version file and the index leaves an unlisted file; skip past it too.
    const onDisk = (await readdirOrEmpty(path.join(dir, 'versions'))).map(parseVersionFileName);
    const earlier = await this.recordedBy(dir, index, onDisk, v);
    if (earlier) return earlier;
    const highest = Math.max(index.lastVersion, ...onDisk.map((n) => n ?? 0));
    const version: StateVersion = { ...v, version: highest + 1, createdAt: v.createdAt ?? this.now().toISOString() };
    await writeFileAtomic(path.join(dir, 'versions', versionFileName(version.version)), JSON.stringify(version));

    const summaries = [
      ...index.versions,
      {
        version: version.version,
        createdAt: version.createdAt,
        kind: version.kind,
        deploymentId: version.deploymentId,
        planHash: version.planHash,
      },
    ];
    const kept = summaries.slice(-this.retainVersions);
    const keptNumbers = new Set(kept.map((s) => s.version));
    await writeFileAtomic(
      path.join(dir, 'index.json'),
      JSON.stringify({ lastVersion: version.version, versions: kept }),
    );
    // Prune after the index no longer lists them, so a reader never follows the index to a missing file.
    for (const n of onDisk) {
      if (n !== undefined && !keptNumbers.has(n))
        await fs.rm(path.join(dir, 'versions', versionFileName(n)), { force: true });
    }
    return version;
  }

  /**
   * The version this run already recorded with this kind, if any: a retried recordVersion (its first attempt
   * wrote the version, then lost its completion) must get that one back, not a second one eating retention.
   * Files the index does not list yet (a crash before the index write) are looked at too.
   */
  private async recordedBy(
    dir: string,
    index: VersionIndex,
    onDisk: (number | undefined)[],
    v: NewStateVersion,
  ): Promise<StateVersion | undefined> {
    const listed = new Set(index.versions.map((s) => s.version));
    const candidates = [
      ...index.versions.filter((s) => s.deploymentId === v.deploymentId && s.kind === v.kind).map((s) => s.version),
      ...onDisk.filter((n): n is number => n !== undefined && !listed.has(n)),
    ];
    for (const n of candidates.sort((a, b) => a - b)) {
      const found = await this.readJson<StateVersion>(path.join(dir, 'versions', versionFileName(n)));
      if (found && found.deploymentId === v.deploymentId && found.kind === v.kind) return found;
    }
    return undefined;
  }

  async listVersions(stack: string, environment: string, limit?: number): Promise<StateVersion[]> {
    const dir = this.dir(stack, environment);
    const index = await this.readJson<VersionIndex>(path.join(dir, 'index.json'));
    if (!index) return [];
    const numbers = index.versions.map((s) => s.version).sort((a, b) => b - a);
    const wanted = limit === undefined ? numbers : numbers.slice(0, Math.max(0, limit));
    const out: StateVersion[] = [];
    for (const n of wanted) {
      const v = await this.readJson<StateVersion>(path.join(dir, 'versions', versionFileName(n)));
      if (v) out.push(v);
    }
    return out;
  }

  async getVersion(stack: string, environment: string, version: number): Promise<StateVersion | undefined> {
    const file = path.join(this.dir(stack, environment), 'versions', versionFileName(checkVersion(version)));
    return this.readJson<StateVersion>(file);
  }

  async latestVersion(stack: string, environment: string): Promise<StateVersion | undefined> {
    return (await this.listVersions(stack, environment, 1))[0];
  }
}
