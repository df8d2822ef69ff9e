/**
 * Drift scans: started on demand, and one Temporal Schedule per stack/environment whose environment sets
 * `drift.every`, so scans run on the server's clock whether or not anyone is watching.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { DRIFT_SCHEDULE_PREFIX, driftScanWorkflowId, driftScheduleId, type DriftScanInput } from '../contracts/drift';
import { EnvironmentKey, KindKey, StackKey } from '../shared/search-attributes';
import type { driftScanWorkflow } from '../workflows';

function driftSearchAttributes(input: DriftScanInput): TypedSearchAttributes {
  return new TypedSearchAttributes([
    { key: StackKey, value: input.stack },
    { key: EnvironmentKey, value: input.environment },
    { key: KindKey, value: 'drift' },
  ]);
}

export class DriftGateway {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /** Starts one scan now; returns its workflow id. */
  async start(input: DriftScanInput, id: string): Promise<string> {
    const workflowId = driftScanWorkflowId(input.stack, input.environment, id);
    await this.client.workflow.start<typeof driftScanWorkflow>('driftScanWorkflow', {
      workflowId,
      taskQueue: this.taskQueue,
      args: [input],
      typedSearchAttributes: driftSearchAttributes(input),
      staticSummary: `drift scan ${input.stack}/${input.environment} by ${input.requestedBy}`,
    });
    return workflowId;
  }

  /**
   * Makes the server's drift schedules exactly `wanted` (interval in ms per scan input): creates the missing,
   * updates the changed, deletes the ones no longer asked for. Returns the schedule ids in place.
   */
  async reconcileSchedules(wanted: { every: number; input: DriftScanInput }[]): Promise<string[]> {
    const ids = new Set<string>();
    for (const { every, input } of wanted) {
      const scheduleId = driftScheduleId(input.stack, input.environment);
      ids.add(scheduleId);
      const options = {
        scheduleId,
        spec: { intervals: [{ every }] },
        action: {
          type: 'startWorkflow' as const,
          workflowType: 'driftScanWorkflow',
          taskQueue: this.taskQueue,
          args: [input] as Parameters<typeof driftScanWorkflow>,
          workflowId: driftScanWorkflowId(input.stack, input.environment, 'scheduled'),
          typedSearchAttributes: driftSearchAttributes(input),
        },
        // A scan still running when the next is due is not doubled up.
        policies: { overlap: 'SKIP' as const },
      };
      try {
        await this.client.schedule.create(options);
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        await this.client.schedule
          .getHandle(scheduleId)
          .update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: options.policies }));
      }
    }
    for await (const s of this.client.schedule.list()) {
      if (s.scheduleId.startsWith(DRIFT_SCHEDULE_PREFIX) && !ids.has(s.scheduleId)) {
        await this.client.schedule
          .getHandle(s.scheduleId)
          .delete()
          .catch((err) => {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
          });
      }
    }
    return [...ids];
  }
}
