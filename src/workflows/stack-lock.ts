/**
 * One lock and FIFO run queue per stack+environment, like a Terraform Cloud workspace: one run at a time
 * applies. The lock is a workflow, so it survives every crash; a holder that dies (terminated, timed out,
 * crashed beyond retries) is noticed by a periodic check and the lock passes on, so no lock stays stuck.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { TemporalActivities } from '../activities/temporal';
import {
  acquireSignal,
  forceUnlockSignal,
  lockGrantedSignal,
  lockStateQuery,
  releaseSignal,
  type StackLockInput,
  type StackLockState,
} from '../contracts/lock';

const { isWorkflowRunning } = proxyActivities<TemporalActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5 },
});

const DEFAULT_HOLDER_CHECK_MS = 15_000;
/** An idle lock workflow lingers this long for new requests before it completes. */
const IDLE_LINGER_MS = 60_000;
const HISTORY_KEEP = 20;
const DEFAULT_GRANTS_PER_RUN = 200;

export async function stackLockWorkflow(input: StackLockInput): Promise<void> {
  const state: StackLockState = input.state ?? {
    stack: input.stack,
    environment: input.environment,
    queue: [],
    history: [],
  };
  const checkMs = input.holderCheckIntervalMs ?? DEFAULT_HOLDER_CHECK_MS;
  const grantsPerRun = input.continueAsNewAfterGrants ?? DEFAULT_GRANTS_PER_RUN;
  let grants = 0;
  const now = () => new Date().toISOString();
  const note = (workflowId: string, reason: string) => {
    state.history.push({ workflowId, releasedAt: now(), reason });
    if (state.history.length > HISTORY_KEEP) state.history.splice(0, state.history.length - HISTORY_KEEP);
  };

  setHandler(lockStateQuery, () => state);
  setHandler(acquireSignal, (req) => {
    // Duplicate requests (a retried signal-with-start) must not queue a run twice.
    if (state.holder?.workflowId === req.workflowId || state.queue.some((q) => q.workflowId === req.workflowId)) return;
    const entry = { workflowId: req.workflowId, requestedAt: req.requestedAt ?? now(), priority: req.priority ?? 'normal' };
    // High priority waits ahead of every normal waiter, behind earlier high ones; the holder is never displaced.
    const at = entry.priority === 'high' ? state.queue.findIndex((q) => q.priority !== 'high') : -1;
    if (at < 0) state.queue.push(entry);
    else state.queue.splice(at, 0, entry);
  });
  setHandler(releaseSignal, ({ workflowId }) => {
    if (state.holder?.workflowId === workflowId) {
      state.holder = undefined;
    } else {
      state.queue = state.queue.filter((q) => q.workflowId !== workflowId);
    }
  });
  setHandler(forceUnlockSignal, ({ by, reason }) => {
    if (!state.holder) return;
    log.warn('lock force-unlocked', { by, holder: state.holder.workflowId, reason });
    note(state.holder.workflowId, `force-unlocked by ${by}${reason ? `: ${reason}` : ''}`);
    state.holder = undefined;
  });

  for (;;) {
    if (!state.holder && state.queue.length > 0) {
      const next = state.queue.shift()!;
      state.holder = { workflowId: next.workflowId, since: now() };
      grants++;
      try {
        await getExternalWorkflowHandle(next.workflowId).signal(lockGrantedSignal, {
          lockWorkflowId: workflowInfo().workflowId,
        });
      } catch {
        // The run is gone (closed before its turn came): skip it.
        note(next.workflowId, 'run was no longer running when its turn came');
        state.holder = undefined;
      }
      continue;
    }

    if (state.holder) {
      const holder = state.holder.workflowId;
      const released = await condition(() => state.holder?.workflowId !== holder, checkMs);
      if (!released && !(await isWorkflowRunning(holder))) {
        if (state.holder?.workflowId === holder) {
          log.warn('lock holder is no longer running; releasing', { holder });
          note(holder, 'holder stopped running without releasing (terminated, timed out or crashed)');
          state.holder = undefined;
        }
      }
    } else {
      const woke = await condition(() => state.queue.length > 0, IDLE_LINGER_MS);
      if (!woke) {
        // Idle: finish once every handler is done; the next run's signal-with-start opens a fresh one.
        await condition(allHandlersFinished);
        if (state.queue.length === 0 && !state.holder) return;
      }
    }

    if (workflowInfo().continueAsNewSuggested || grants >= grantsPerRun) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof stackLockWorkflow>({ ...input, state });
    }
  }
}
