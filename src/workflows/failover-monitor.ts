/**
 * FailoverMonitorWorkflow: probes one failover group on a durable timer and, after `failuresToTrigger`
 * consecutive failures, starts exactly one FailoverWorkflow as an abandoned child (it outlives the monitor's
 * continue-as-new and a stop). It re-arms only after that failover ended and a probe succeeded, so one
 * outage never causes two failovers and a flapping probe (a success between failures) never triggers.
 * Its configuration can be replaced while it runs (configureMonitorSignal); a stop wins over a probe in
 * flight; and no failing call of its own ends it: an unwatched group would fail over never again.
 */
import {
  condition,
  continueAsNew,
  ParentClosePolicy,
  patched,
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
  configureMonitorSignal,
  invalidMonitorConfig,
  monitorConfigChanges,
  monitorConfigOf,
  monitorStatusQuery,
  stopMonitorSignal,
  type FailoverMonitorInput,
  type FailoverMonitorState,
  type MonitorConfig,
  type MonitorProbe,
} from '../contracts/monitor';
import { errorOf } from './failover-record';

const RECENT = 20;
const DEFAULT_MAX_PROBES = 500;

/** patched() ids: wire names, never change or reuse. */
/** A stop received while a probe was in flight ends the monitor before that probe can trigger. */
const PATCH_STOP_BEFORE_TRIGGER = 'monitor-stop-before-trigger';
/** A failing call of the monitor's own (liveness check, child start) is recorded, never fatal. */
const PATCH_KEEP_PROBING = 'monitor-keep-probing-on-error';

const temporal = proxyActivities<TemporalActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

/** Probes until stopped; continues as new every `maxProbesPerRun` probes with its counters carried over. */
export async function failoverMonitorWorkflow(input: FailoverMonitorInput): Promise<FailoverMonitorState> {
  let cfg: MonitorConfig = monitorConfigOf(input);
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
  st.config = cfg;
  let stopped = false;
  let reconfigured = false;
  setHandler(stopMonitorSignal, () => {
    stopped = true;
  });
  setHandler(monitorStatusQuery, () => st);
  setHandler(configureMonitorSignal, (next) => {
    const now = new Date().toISOString();
    const why = invalidMonitorConfig(next);
    if (why) {
      st.lastError = { at: now, message: `configuration refused, the previous one stays: ${why}`, probe: st.probes };
      return;
    }
    const changes = monitorConfigChanges(cfg, next);
    if (changes.length === 0) return;
    cfg = monitorConfigOf(next);
    st.config = cfg;
    st.lastConfigChange = { at: now, changes };
    reconfigured = true; // a shorter interval applies now, not after the old one ran out
  });
  const maxProbes = input.maxProbesPerRun ?? DEFAULT_MAX_PROBES;
  let probesThisRun = 0;

  while (!stopped) {
    if (probesThisRun >= maxProbes || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof failoverMonitorWorkflow>({
        ...input,
        ...cfg,
        carried: { ...st, generations: st.generations + 1 },
      });
    }
    const p = await probeOnce(input.group, cfg);
    probesThisRun++;
    st.probes++;
    st.lastProbe = p;
    st.recent = [...st.recent, p].slice(-RECENT);
    st.consecutiveFailures = p.healthy ? 0 : st.consecutiveFailures + 1;
    // The stop came while the probe ran: whatever the probe saw, the operator asked for no more failovers.
    if (stopped && patched(PATCH_STOP_BEFORE_TRIGGER)) break;

    await forgetEndedFailover(st);
    if (!st.armed && !st.activeFailoverWorkflowId && p.healthy) st.armed = true;
    if (st.armed && !st.activeFailoverWorkflowId && st.consecutiveFailures >= cfg.failuresToTrigger) {
      if (stopped && patched(PATCH_STOP_BEFORE_TRIGGER)) break;
      await guarded(st, () => trigger(st, input.group, cfg));
    }
    const status = st.activeFailoverWorkflowId ? 'failover_running' : 'probing';
    if (status !== st.status) {
      st.status = status;
      upsertSearchAttributes([{ key: StatusKey, value: status }]);
    }
    reconfigured = false;
    await condition(() => stopped || reconfigured, cfg.intervalMs);
  }
  st.status = 'stopped';
  upsertSearchAttributes([{ key: StatusKey, value: 'stopped' }]);
  return st;
}

/** One observation. A probe is never retried (a retry would hide a failure) and an error is a failed probe. */
async function probeOnce(group: string, cfg: MonitorConfig): Promise<MonitorProbe> {
  const probe = proxyActivities<FailoverActivities>({
    startToCloseTimeout: cfg.probeTimeoutMs + 5000,
    retry: { maximumAttempts: 1 },
  });
  try {
    const r = await probe.failoverProbe({ group, timeoutMs: cfg.probeTimeoutMs });
    return { at: new Date().toISOString(), healthy: r.healthy, detail: r.detail };
  } catch (err) {
    return { at: new Date().toISOString(), healthy: false, detail: `probe failed: ${errorOf(err).message}` };
  }
}

/** Clears the failover it started once that run has ended; an unanswered check keeps it (no second failover). */
async function forgetEndedFailover(st: FailoverMonitorState): Promise<void> {
  const id = st.activeFailoverWorkflowId;
  if (!id) return;
  await guarded(st, async () => {
    if (!(await temporal.isWorkflowRunning(id))) st.activeFailoverWorkflowId = undefined;
  });
}

/** Runs one of the monitor's own calls; a failure is recorded in the state and the monitor goes on probing. */
async function guarded(st: FailoverMonitorState, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!patched(PATCH_KEEP_PROBING)) throw err;
    st.lastError = { at: new Date().toISOString(), message: errorOf(err).message, probe: st.probes };
  }
}

async function trigger(st: FailoverMonitorState, group: string, cfg: MonitorConfig): Promise<void> {
  const id = newFailoverId(group, uuid4());
  const workflowId = failoverWorkflowId(group, id);
  const decidedAt = new Date().toISOString();
  // ABANDON: the failover must finish even if the monitor is stopped or continues as new meanwhile.
  await startChild(failoverWorkflow, {
    workflowId,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [
      {
        ...cfg.failover,
        id,
        group,
        dryRun: false,
        trigger: 'monitor',
        decidedAt,
        reason:
          cfg.failover.reason ??
          `${st.consecutiveFailures} consecutive failed health probes: ${st.lastProbe?.detail ?? ''}`,
      },
    ],
    typedSearchAttributes: [
      { key: KindKey, value: FAILOVER_KIND },
      { key: FailoverGroupKey, value: group },
      { key: StatusKey, value: 'running' },
      { key: RequestedByKey, value: cfg.failover.requestedBy },
    ],
  });
  st.triggered.push({ failoverId: id, workflowId, at: decidedAt, afterFailures: st.consecutiveFailures });
  st.activeFailoverWorkflowId = workflowId;
  st.armed = false;
  st.consecutiveFailures = 0;
}
