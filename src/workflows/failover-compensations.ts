/**
 * The compensations of a FailoverWorkflow run, one registration per step it undoes. Each is registered right
 * before that step, so a step that failed half-way is undone too. Behind a patch they run phase by phase (see
 * UndoPhase in failover-record.ts): the source can serve again before traffic returns to it.
 */
import { patched } from '@temporalio/workflow';
import type { Capacity } from '../activities/cloud/failover-cloud';
import type { FailoverReadiness } from '../activities/cloud/failover-activities';
import type { FailoverSide } from '../contracts/failover';
import { compensations, stepRequest, type StageRun } from './failover-run';

/** patched() ids: wire names, never change or reuse. */
/** Compensations run phase by phase (the source serves again before traffic returns) and restore captured traffic. */
const PATCH_UNDO_BY_PHASE = 'failover-undo-by-phase';

/** Decided at the first registration and kept: a run never mixes the two orders. */
function phasedUndo(run: StageRun): boolean {
  return (run.undoByPhase ??= patched(PATCH_UNDO_BY_PHASE));
}

/** One compensation puts traffic back as readiness found it; it covers the switch to the target as well. */
export function undoDrain(run: StageRun, { from, trafficBefore }: FailoverReadiness): void {
  const req = () => stepRequest(run, 'source_preparation', 'restore_traffic', from);
  if (!phasedUndo(run)) {
    run.rec.compensate('source_preparation', 'restore_traffic', () => compensations.failoverRouteTraffic(req()));
    return;
  }
  run.rec.compensate(
    'source_preparation',
    'restore_traffic',
    () =>
      trafficBefore
        ? compensations.failoverRestoreTraffic({ ...req(), snapshot: trafficBefore })
        : compensations.failoverRouteTraffic(req()),
    'traffic',
  );
}

/** Puts the source's capacity back as readiness found it. */
export function undoSourceScale(run: StageRun, from: FailoverSide, capacity: Capacity): void {
  run.rec.compensate(
    'source_preparation',
    'restore_source_capacity',
    () =>
      compensations.failoverScale({
        ...stepRequest(run, 'source_preparation', 'restore_source_capacity', from),
        capacity,
      }),
    'before_traffic',
  );
}

/** Lets the source's database take writes again. */
export function undoFence(run: StageRun, from: FailoverSide): void {
  run.rec.compensate(
    'demotion',
    'unfence_source_database',
    () =>
      compensations.failoverFenceDatabase({
        ...stepRequest(run, 'demotion', 'unfence_source_database', from),
        fenced: false,
      }),
    'before_traffic',
  );
}

/** Makes the promoted target a replica of the source again (a manual step on RDS). */
export function undoPromotion(run: StageRun, from: FailoverSide, to: FailoverSide): void {
  run.rec.compensate(
    'promotion',
    'reattach_replica',
    () =>
      compensations.failoverReattachReplica({
        ...stepRequest(run, 'promotion', 'reattach_replica', to),
        source: from,
      }),
    'before_traffic',
  );
}

/** Puts the target's capacity back, once traffic has left it. */
export function undoTargetScale(run: StageRun, to: FailoverSide, capacity: Capacity): void {
  run.rec.compensate(
    'target_activation',
    'restore_target_capacity',
    () =>
      compensations.failoverScale({
        ...stepRequest(run, 'target_activation', 'restore_target_capacity', to),
        capacity,
      }),
    'after_traffic',
  );
}

/** Before the phased order: sends all traffic back to the source (100/0). */
export function undoSwitch(run: StageRun, from: FailoverSide): void {
  if (phasedUndo(run)) return; // restore_traffic (registered with the drain) puts traffic back
  run.rec.compensate('target_activation', 'route_traffic_back', () =>
    compensations.failoverRouteTraffic(stepRequest(run, 'target_activation', 'route_traffic_back', from)),
  );
}
