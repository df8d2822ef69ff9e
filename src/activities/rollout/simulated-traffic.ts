/**
 * A simulated service with two versions side by side: each with its capacity (instances) and a share of the
 * traffic (weights summing to 100), persisted as one JSON file per service so it survives worker restarts
 * like a real provider's routing would. Faults are injectable (an error rate or latency of the new version,
 * from some weight on; metrics going missing) so analysis can fail for real. Writes are atomic and
 * serialized per service in-process (KeyedQueue) and across processes (withFileLock).
 */
import path from 'node:path';
import { readFileOrUndefined, withFileLock, writeFileAtomic } from '../../store/fs-util';
import { KeyedQueue } from '../../store/keyed-queue';

export interface SimVersion {
  version: string;
  /** Running instances. */
  capacity: number;
  /** Percent of the service's traffic routed to it. */
  weight: number;
  /** The rollout that created it (the new version only): a retried provision recognizes its own. */
  rolloutId?: string;
}

/** Injected misbehaviour of the new (canary/green) version. */
export interface SimTrafficFaults {
  /** Error ratio (0..1) of the new version's requests. */
  errorRate?: number;
  /** Latency of the new version's requests, in milliseconds (default 40). */
  latencyMs?: number;
  /** The faults above start once the new version takes at least this weight (a load-dependent bug). */
  fromWeight?: number;
  /** The metrics source answers nothing: analysis is inconclusive. */
  metricsUnavailable?: boolean;
  /** Routing changes towards the new version (provision, steps) hang this long before they land. */
  stallStepsMs?: number;
}

export interface SimService {
  version: 1;
  service: string;
  stable: SimVersion;
  /** The version being rolled out beside stable, while a rollout runs. */
  candidate?: SimVersion;
  faults: SimTrafficFaults;
  /** Every change, newest last (bounded). */
  log: { at: string; op: string; detail: string }[];
}

const MAX_LOG = 200;
/** Latency a healthy simulated version answers with. */
export const SIM_HEALTHY_LATENCY_MS = 40;

/** A service nobody set up yet: `v0` on 4 instances with all traffic. */
export function initialService(service: string): SimService {
  return { version: 1, service, stable: { version: 'v0', capacity: 4, weight: 100 }, faults: {}, log: [] };
}

export function logChange(s: SimService, op: string, detail: string): void {
  s.log.push({ at: new Date().toISOString(), op, detail });
  if (s.log.length > MAX_LOG) s.log.splice(0, s.log.length - MAX_LOG);
}

/** One store per worker; the files are the truth, so several workers on one machine share the services. */
export class SimulatedTrafficStore {
  private readonly queue = new KeyedQueue();

  constructor(readonly dataDir: string) {}

  file(service: string): string {
    return path.join(this.dataDir, `${service.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  async read(service: string): Promise<SimService> {
    const raw = await readFileOrUndefined(this.file(service));
    return raw ? (JSON.parse(raw.toString('utf8')) as SimService) : initialService(service);
  }

  /** Read-modify-write under the service's locks; nothing is written when `fn` throws. */
  mutate<T>(service: string, fn: (s: SimService) => T | Promise<T>): Promise<T> {
    return this.queue.run(service, () =>
      withFileLock(`${this.file(service)}.lock`, async () => {
        const s = await this.read(service);
        const out = await fn(s);
        await writeFileAtomic(this.file(service), `${JSON.stringify(s, null, 2)}\n`);
        return out;
      }),
    );
  }
}

/** Sets up (or replaces) a service's stable version: tests, demos, `strata` seeding. */
export async function seedSimulatedService(
  store: SimulatedTrafficStore,
  service: string,
  stable: { version: string; capacity: number },
  faults: SimTrafficFaults = {},
): Promise<void> {
  await store.mutate(service, (s) => {
    s.stable = { ...stable, weight: 100 };
    s.candidate = undefined;
    s.faults = faults;
    logChange(s, 'seed', `${stable.version} x${stable.capacity}`);
  });
}

/** Sets the service's fault injection; undefined fields clear that fault. */
export async function setSimulatedTrafficFaults(
  store: SimulatedTrafficStore,
  service: string,
  faults: SimTrafficFaults,
): Promise<void> {
  await store.mutate(service, (s) => {
    s.faults = faults;
    logChange(s, 'faults', JSON.stringify(faults));
  });
}
