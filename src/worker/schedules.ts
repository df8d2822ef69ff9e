/**
 * What the worker puts in place at start-up from strata.yaml: one drift-scan Schedule per stack/environment whose
 * environment sets `drift.every` (created, updated or deleted to match), and a health monitor per failover group
 * with `health.autoStart`.
 */
import type { TemporalGateway } from '../client';
import type { DriftScanInput } from '../contracts/drift';
import type { StrataConfig } from '../shared/config';
import { parseDuration } from '../shared/duration';
import { monitorInputFor } from '../shared/failover-input';
import { buildRunInput } from '../shared/run-input';

/** Makes the server's drift schedules match the config; returns the schedule ids in place. */
export async function reconcileDriftSchedules(
  gateway: Pick<TemporalGateway, 'drift'>,
  config: StrataConfig,
): Promise<string[]> {
  const wanted: { every: number; input: DriftScanInput }[] = [];
  for (const [stack, s] of Object.entries(config.stacks)) {
    for (const env of s.environments ?? Object.keys(config.environments)) {
      const drift = config.environments[env]?.drift;
      if (!drift) continue;
      const remediation = drift.remediate
        ? buildRunInput(config, { kind: 'rollback', stack, environment: env }, 'strata-drift', 'template')
        : undefined;
      wanted.push({
        every: parseDuration(drift.every),
        input: { stack, environment: env, requestedBy: 'strata-drift', remediation },
      });
    }
  }
  return gateway.drift.reconcileSchedules(wanted);
}

/** Starts a monitor per group with `health.autoStart: true`; already-running monitors are left alone. */
export async function ensureFailoverMonitors(
  gateway: Pick<TemporalGateway, 'failovers'>,
  config: StrataConfig,
): Promise<string[]> {
  const started: string[] = [];
  for (const [name, g] of Object.entries(config.failoverGroups)) {
    if (!g.health.autoStart) continue;
    await gateway.failovers.startMonitor(monitorInputFor(name, g, config));
    started.push(name);
  }
  return started;
}
