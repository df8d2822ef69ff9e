/**
 * FailoverMonitorWorkflow: probes one failover group on a durable timer and, after `failuresToTrigger`
 * consecutive failures, starts exactly one FailoverWorkflow as an abandoned child (it outlives the monitor's
 * continue-as-new and a stop). It re-arms only after that failover ended and a probe succeeded, so one
 * outage never causes two failovers and a flapping probe (a success between failures) never triggers.
 */
import {
  condition,
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { FailoverActivities } from '../activities/cloud/failover-activities';
import type { TemporalActivities } from '../activities/temporal';
import { FailoverGroupKey, KindKey, RequestedByKey, StatusKey } from '../shared/search-attributes';
import { failoverWorkflow } from './failover';
import { FAILOVER_KIND, failoverWorkflowId, newFailoverId } from '../contracts/failover';
import {
  monitorStatusQuery,
  stopMonitorSignal,
  type FailoverMonitorInput,
  type FailoverMonitorState,
  type MonitorProbe,
} from '../contracts/monitor';
import { errorOf } from './failover-record';

const RECENT = 20;
const DEFAULT_MAX_PROBES = 500;

const temporal = proxyActivities<TemporalActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

/** Probes until stopped; continues as new every `maxProbesPerRun` probes with its counters carried over. */
export async function failoverMonitorWorkflow(input: FailoverMonitorInput): Promise<FailoverMonitorState> {
  // A probe is one observation: never retried (a retry would hide a failure), bounded by its own timeout.
  const probe = proxyActivities<FailoverActivities>({
    startToCloseTimeout: input.probeTimeoutMs + 5000,
    retry: { maximumAttempts: 1 },
  });
  const st: FailoverMonitorState = input.carried ?? {
    group: input.group,
    status: 'probing',
    probes: 0,
    consecutiveFailures: 0,
    armed: true,
    recent: [],
    triggered: [],
    generations: 0,
  };
  let stopped = false;
  setHandler(stopMonitorSignal, () => {
    stopped = true;
  });
  setHandler(monitorStatusQuery, () => st);
  const maxProbes = input.maxProbesPerRun ?? DEFAULT_MAX_PROBES;
  let probesThisRun = 0;

  while (!stopped) {
    if (probesThisRun >= maxProbes || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof failoverMonitorWorkflow>({
        ...input,
        carried: { ...st, generations: st.generations + 1 },
      });
    }
    let p: MonitorProbe;
    try {
      const r = await probe.failoverProbe({ group: input.group, timeoutMs: input.probeTimeoutMs });
      p = { at: new Date().toISOString(), healthy: r.healthy, detail: r.detail };
    } catch (err) {
      p = { at: new Date().toISOString(), healthy: false, detail: `probe failed: ${errorOf(err).message}` };
    }
    probesThisRun++;
    st.probes++;
    st.lastProbe = p;
    st.recent = [...st.recent, p].slice(-RECENT);
    st.consecutiveFailures = p.healthy ? 0 : st.consecutiveFailures + 1;

    if (st.activeFailoverWorkflowId && !(await temporal.isWorkflowRunning(st.activeFailoverWorkflowId))) {
      st.activeFailoverWorkflowId = undefined;
    }
    if (!st.armed && !st.activeFailoverWorkflowId && p.healthy) st.armed = true;
    if (st.armed && !st.activeFailoverWorkflowId && st.consecutiveFailures >= input.failuresToTrigger) {
      await trigger(st, input);
    }
    const status = st.activeFailoverWorkflowId ? 'failover_running' : 'probing';
    if (status !== st.status) {
      st.status = status;
      upsertSearchAttributes([{ key: StatusKey, value: status }]);
    }
    await condition(() => stopped, input.intervalMs);
  }
  st.status = 'stopped';
  upsertSearchAttributes([{ key: StatusKey, value: 'stopped' }]);
  return st;
}

async function trigger(st: FailoverMonitorState, input: FailoverMonitorInput): Promise<void> {
  const id = newFailoverId(input.group, uuid4());
  const workflowId = failoverWorkflowId(input.group, id);
  const decidedAt = new Date().toISOString();
  // ABANDON: the failover must finish even if the monitor is stopped or continues as new meanwhile.
  await startChild(failoverWorkflow, {
    workflowId,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [
      {
        ...input.failover,
        id,
        group: input.group,
        dryRun: false,
        trigger: 'monitor',
        decidedAt,
        reason:
          input.failover.reason ??
          `${st.consecutiveFailures} consecutive failed health probes: ${st.lastProbe?.detail ?? ''}`,
      },
    ],
    typedSearchAttributes: [
      { key: KindKey, value: FAILOVER_KIND },
      { key: FailoverGroupKey, value: input.group },
      { key: StatusKey, value: 'running' },
      { key: RequestedByKey, value: input.failover.requestedBy },
    ],
  });
  st.triggered.push({ failoverId: id, workflowId, at: decidedAt, afterFailures: st.consecutiveFailures });
  st.activeFailoverWorkflowId = workflowId;
  st.armed = false;
  st.consecutiveFailures = 0;
}
