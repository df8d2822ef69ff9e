/** The plan of actions a failover will take, shown by dry runs and recorded by every run. */
import type { FailoverMode, FailoverSide, PlannedAction } from '../../contracts/failover';
import type { Capacity, CloudReadiness, GroupRef } from './failover-cloud';

/** The capacity the target is scaled to: the configured one, else what the source runs now, else its minimum (at least 1). */
export function targetCapacityOf(
  g: GroupRef,
  from: FailoverSide,
  to: FailoverSide,
  found: CloudReadiness['capacity'],
): Capacity {
  const src = found[from];
  const tgt = found[to];
  const desired = g.cfg[to].capacity ?? g.cfg[from].capacity ?? src?.desired ?? Math.max(tgt?.min ?? 0, 1);
  const max = Math.max(desired, tgt?.max ?? 0, src?.max ?? 0);
  // Kubernetes: each of the target's objects takes the state its twin had on the source.
  const objects = src?.objects ? { objects: src.objects } : {};
  return { min: Math.min(src?.min ?? desired, desired), max, desired, ...objects };
}

/** Describes every step in stage order; the same list serves the dry run and the run's status. */
export function buildPlan(
  g: GroupRef,
  from: FailoverSide,
  to: FailoverSide,
  mode: FailoverMode,
  r: CloudReadiness,
  target: Capacity,
): PlannedAction[] {
  const fromRegion = g.cfg[from].region;
  const toRegion = g.cfg[to].region;
  const res = r.resources;
  const be = mode === 'emergency' ? ' (best effort: the source may be unreachable)' : '';
  const cap = (side: FailoverSide) => res[side]?.capacity ?? `${side} capacity`;
  const db = (side: FailoverSide) => res[side]?.database ?? `${side} database`;
  const dns = res.dns ?? 'the group record';
  // Kubernetes: traffic moves once, at switch_traffic; each workload takes its twin's count on the source.
  const kube = g.cfg.provider === 'kubernetes';
  const targetObjects = target.objects
    ? Object.entries(target.objects.replicas)
        .map(([k, n]) => `${k}=${n}`)
        .join(', ')
    : undefined;
  return [
    {
      stage: 'initialization',
      step: 'readiness',
      description: `check ${to} (${toRegion}) can take over${mode === 'planned' ? ` and ${from} (${fromRegion}) can hand over` : ''}`,
    },
    {
      stage: 'initialization',
      step: 'acquire_lock',
      description: `take the global failover lock of ${g.name} and record the intent ${from} → ${to}`,
    },
    {
      stage: 'source_preparation',
      step: 'drain_traffic',
      side: from,
      description: kube
        ? `leave ${dns} on ${from} until switch_traffic (the target does not serve yet)`
        : `drain traffic from ${from}: ${dns} weight 0 for ${fromRegion}${be}`,
    },
    {
      stage: 'source_preparation',
      step: 'scale_source',
      side: from,
      description: `scale ${cap(from)} (${fromRegion}) to 0${be}`,
    },
    {
      stage: 'demotion',
      step: 'fence_database',
      side: from,
      description: `fence ${db(from)} (${fromRegion}) against writes${be}`,
    },
    {
      stage: 'promotion',
      step: 'replication_lag',
      side: to,
      description: `measure the replication lag of ${db(to)} (the RPO)`,
    },
    {
      stage: 'promotion',
      step: 'promote_replica',
      side: to,
      description: `promote ${db(to)} (${toRegion}) and wait until it is available`,
    },
    {
      stage: 'target_activation',
      step: 'scale_target',
      side: to,
      description: targetObjects
        ? `scale ${cap(to)} (${toRegion}) to the source's counts: ${targetObjects}`
        : `scale ${cap(to)} (${toRegion}) to desired ${target.desired} (min ${target.min}, max ${target.max})`,
    },
    {
      stage: 'target_activation',
      step: 'switch_traffic',
      side: to,
      description: `point ${dns} at ${to} (${toRegion})`,
    },
    {
      stage: 'target_activation',
      step: 'verify_health',
      side: to,
      description: `wait until ${res[to]?.health ?? `${to}`} reports healthy targets`,
    },
    {
      stage: 'completion',
      step: 'commit',
      description: `record ${to} as the active side (epoch + 1) and release the lock`,
    },
  ];
}
