/**
 * Keeps one Temporal Schedule per stack/environment whose environment sets `drift.every`, so drift scans run
 * on the server's clock whether or not anyone is watching. Reconciled at worker start: created, updated to the
 * configured interval, or deleted when the config no longer asks for it.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { parseDuration } from '../shared/duration';
import type { StrataConfig } from '../shared/config';
import { buildRunInput } from '../shared/run-input';
import { EnvironmentKey, KindKey, StackKey } from '../shared/search-attributes';
import { driftScheduleId, type DriftScanInput } from '../contracts/drift';

export async function reconcileDriftSchedules(client: Client, config: StrataConfig): Promise<string[]> {
  const wanted = new Map<string, { every: number; input: DriftScanInput }>();
  for (const [stack, s] of Object.entries(config.stacks)) {
    for (const env of s.environments ?? Object.keys(config.environments)) {
      const drift = config.environments[env]?.drift;
      if (!drift) continue;
      const remediation = drift.remediate ? buildRunInput(config, { kind: 'rollback', stack, environment: env }, 'strata-drift', 'template') : undefined;
      wanted.set(driftScheduleId(stack, env), {
        every: parseDuration(drift.every),
        input: { stack, environment: env, requestedBy: 'strata-drift', remediation },
      });
    }
  }
  for (const [scheduleId, { every, input }] of wanted) {
    const options = {
      scheduleId,
      spec: { intervals: [{ every }] },
      action: {
        type: 'startWorkflow' as const,
        workflowType: 'driftScanWorkflow',
        taskQueue: config.temporal.taskQueue,
        args: [input],
        workflowId: `strata-drift/${input.stack}/${input.environment}/scheduled`,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: StackKey, value: input.stack },
          { key: EnvironmentKey, value: input.environment },
          { key: KindKey, value: 'drift' },
        ]),
      },
      // A scan still running when the next is due is not doubled up.
      policies: { overlap: 'SKIP' as const },
    };
    try {
      await client.schedule.create(options);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: options.policies }));
    }
  }
  for await (const s of client.schedule.list()) {
    if (s.scheduleId.startsWith('strata-drift-schedule/') && !wanted.has(s.scheduleId)) {
      await client.schedule.getHandle(s.scheduleId).delete().catch((err) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
    }
  }
  return [...wanted.keys()];
}
