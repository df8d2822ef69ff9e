/**
 * The Temporal gateway: the one place where Strata starts, signals, updates, queries and lists workflows and
 * schedules. API and worker both use it; every start is typed by its workflow function (type-only imports),
 * and search attributes and memo are built here once.
 *
 * May import: src/contracts, src/shared, @temporalio/client and *types* of src/workflows. Nothing below it
 * (workflows, activities, executors, stores) imports it; activities that need Temporal get the piece they
 * need injected by the worker.
 */
import type { Client } from '@temporalio/client';
import { DriftGateway } from './drift';
import { FailoverGateway } from './failovers';
import { readiness, type Readiness } from './health';
import { ReleaseGateway } from './releases';
import { RolloutGateway } from './rollouts';
import { RunGateway } from './runs';

export type { Readiness } from './health';
export type { RunFilter } from './runs';
export type { ReadOutcome } from './workflow-reads';
export { RunGateway } from './runs';
export { FailoverGateway } from './failovers';
export { DriftGateway } from './drift';
export { ReleaseGateway, RELEASE_KIND } from './releases';
export { RolloutGateway } from './rollouts';
export { AesGcmCodec, codecFor, dataConverterFor, ENCRYPTED_ENCODING } from './codec';

export interface TemporalGateway {
  readonly client: Client;
  readonly runs: RunGateway;
  readonly failovers: FailoverGateway;
  readonly drift: DriftGateway;
  readonly releases: ReleaseGateway;
  readonly rollouts: RolloutGateway;
  readiness(): Promise<Readiness>;
}

/** One gateway per process over an already connected client. */
export function createGateway(client: Client, opts: { namespace: string; taskQueue: string }): TemporalGateway {
  return {
    client,
    runs: new RunGateway(client, opts.taskQueue),
    failovers: new FailoverGateway(client, opts.taskQueue),
    drift: new DriftGateway(client, opts.taskQueue),
    releases: new ReleaseGateway(client, opts.taskQueue),
    rollouts: new RolloutGateway(client, opts.taskQueue),
    readiness: () => readiness(client, opts.namespace, opts.taskQueue),
  };
}
