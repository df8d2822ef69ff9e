/** Failover activities, wired from the config's failover groups (simulated world on disk, AWS via SDK clients). */
import path from 'node:path';
import { createFailoverActivities } from '../activities/cloud/failover-activities';
import type { StrataConfig } from '../shared/config';

/** The failover activities of a worker: every group of `config`, the simulated world under the data dir. */
export function buildFailoverActivities(config: StrataConfig) {
  return createFailoverActivities({
    groups: config.failoverGroups,
    simulated: { dataDir: process.env.STRATA_FAILOVER_DIR ?? path.join(path.dirname(config.workDir), 'failover') },
    // moto keeps the replica link after promotion; without this every emulated promotion waits 60 s.
    awsOptions: process.env.AWS_ENDPOINT_URL ? { promotionLinkGraceMs: 0 } : {},
  });
}
