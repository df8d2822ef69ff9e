/**
 * The simulated world of one failover group, persisted as a JSON file under a data directory so it survives
 * worker restarts exactly like a real cloud would. Writes are atomic (temp file + rename); read-modify-write
 * is serialized per group in-process (KeyedQueue) and across processes (an O_EXCL lock file).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { KeyedQueue } from '../../../store/keyed-queue';
import { readFileOrUndefined, writeFileAtomic } from '../../../store/fs-util';
import type { FailoverSide, FailoverStageName } from '../../../contracts/failover';
import type { Capacity, GlobalState, GroupRef } from '../failover-cloud';

export interface SimDatabase {
  id: string;
  role: 'primary' | 'replica';
  status: 'available' | 'promoting';
  /** Fencing token (the failover id that fenced it); a fenced primary takes no writes. */
  fencedBy?: string;
  promotingSince?: string;
  /** How many times a promotion was actually started on this database (tests assert exactly one). */
  promotions: number;
}

export interface SimSide {
  region: string;
  endpoint: string;
  capacity: Capacity;
  dnsWeight: number;
  db: SimDatabase;
}

/** Group-level fault injection; edit the JSON file or call setSimulatedFaults. */
export interface SimFaults {
  /** Fail this step non-retryably (default step: the stage's last). */
  failStep?: { stage: FailoverStageName; step?: string };
  /** Every call against these sides fails as if the region were down. */
  unreachable?: FailoverSide[];
  /** These sides report unhealthy (the monitor's probe, verify_health). */
  unhealthy?: FailoverSide[];
  /** How long a promotion takes (default 300 ms). */
  promotionMs?: number;
  /** Replication lag while the source takes writes (default 2 s); drops to 0 once the source is fenced. */
  replicaLagSeconds?: number;
}

export interface SimWorld {
  version: 1;
  group: string;
  record: string;
  sides: Record<FailoverSide, SimSide>;
  global: GlobalState;
  faults: SimFaults;
  /** Every change, newest last (bounded): what a reader of the file wants to know first. */
  log: { at: string; op: string; detail: string }[];
}

const MAX_LOG = 100;
const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

/** A fresh world from strata.yaml: primary active with capacity, secondary a cold standby with a read replica. */
export function initialWorld(g: GroupRef): SimWorld {
  const desired = g.cfg.primary.capacity ?? 2;
  const max = Math.max(desired, g.cfg.secondary.capacity ?? 0, 4);
  const side = (s: FailoverSide, active: boolean): SimSide => ({
    region: g.cfg[s].region,
    endpoint: g.cfg[s].endpoint ?? `${g.name}.${g.cfg[s].region}.sim.internal`,
    capacity: active ? { min: desired, max, desired } : { min: 0, max, desired: 0 },
    dnsWeight: active ? 100 : 0,
    db: {
      id: g.cfg[s].dbInstance ?? g.cfg[s].dbReplica ?? `${g.name}-db-${g.cfg[s].region}`,
      role: active ? 'primary' : 'replica',
      status: 'available',
      promotions: 0,
    },
  });
  return {
    version: 1,
    group: g.name,
    record: g.cfg.primary.recordName ?? `${g.name}.sim.internal`,
    sides: { primary: side('primary', true), secondary: side('secondary', false) },
    global: { group: g.name, activeSide: 'primary', epoch: 0, history: [] },
    faults: {},
    log: [],
  };
}

export function logChange(w: SimWorld, op: string, detail: string): void {
  w.log.push({ at: new Date().toISOString(), op, detail });
  if (w.log.length > MAX_LOG) w.log.splice(0, w.log.length - MAX_LOG);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One store per worker; the files are the truth, so several workers on one machine share a world. */
export class SimulatedWorldStore {
  private readonly queue = new KeyedQueue();

  constructor(readonly dataDir: string) {}

  file(group: string): string {
    return path.join(this.dataDir, `${group.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  /** The group's world as persisted (or the initial one, not yet written). */
  async read(g: GroupRef): Promise<SimWorld> {
    const raw = await readFileOrUndefined(this.file(g.name));
    return raw ? (JSON.parse(raw.toString('utf8')) as SimWorld) : initialWorld(g);
  }

  /** Read-modify-write under the group's locks; nothing is written when `fn` throws. */
  async mutate<T>(g: GroupRef, fn: (w: SimWorld) => T | Promise<T>): Promise<T> {
    return this.queue.run(g.name, async () => {
      const release = await this.lockFile(g.name);
      try {
        const w = await this.read(g);
        const out = await fn(w);
        await writeFileAtomic(this.file(g.name), `${JSON.stringify(w, null, 2)}\n`);
        return out;
      } finally {
        await release();
      }
    });
  }

  /** Cross-process mutual exclusion; a lock file left by a killed process is taken over once stale. */
  private async lockFile(group: string): Promise<() => Promise<void>> {
    const lock = `${this.file(group)}.lock`;
    await fs.mkdir(this.dataDir, { recursive: true });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      try {
        const h = await fs.open(lock, 'wx');
        await h.writeFile(String(process.pid));
        await h.close();
        return () => fs.rm(lock, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const st = await fs.stat(lock).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) await fs.rm(lock, { force: true });
        if (Date.now() > deadline) throw new Error(`simulated world of ${group} is locked (${lock})`);
        await delay(wait);
      }
    }
  }
}

/** Sets a group's fault injection (tests, demos). Undefined fields clear that fault. */
export async function setSimulatedFaults(store: SimulatedWorldStore, g: GroupRef, faults: SimFaults): Promise<void> {
  await store.mutate(g, (w) => {
    w.faults = faults;
    logChange(w, 'faults', JSON.stringify(faults));
  });
}
