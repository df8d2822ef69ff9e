/** Types, signals, queries and ids of the FailoverMonitorWorkflow (one per failover group). */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { FailoverInput } from './failover';

export interface FailoverMonitorInput {
  group: string;
  /** Time between probes. */
  intervalMs: number;
  /** Consecutive failed probes that trigger a failover (a single success resets the count). */
  failuresToTrigger: number;
  probeTimeoutMs: number;
  /** The failover to start, resolved from strata.yaml by whoever starts the monitor; id, time and trigger are filled in. */
  failover: Omit<FailoverInput, 'id' | 'group' | 'decidedAt' | 'trigger' | 'dryRun'>;
  /** Probes per run before continue-as-new keeps the history bounded (default 500). */
  maxProbesPerRun?: number;
  /** State carried across continue-as-new; never set by callers. */
  carried?: FailoverMonitorState;
}

/** The part of a monitor's input that comes from strata.yaml and may change while it runs. */
export type MonitorConfig = Pick<
  FailoverMonitorInput,
  'intervalMs' | 'failuresToTrigger' | 'probeTimeoutMs' | 'failover'
>;

/** The configuration part of a monitor's input. */
export function monitorConfigOf(input: MonitorConfig): MonitorConfig {
  const { intervalMs, failuresToTrigger, probeTimeoutMs, failover } = input;
  return { intervalMs, failuresToTrigger, probeTimeoutMs, failover };
}

/** JSON with sorted keys: two configurations built in a different key order still compare equal. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What differs between a running monitor's configuration and `next`, one line per field (empty: nothing). */
export function monitorConfigChanges(current: MonitorConfig, next: MonitorConfig): string[] {
  const changes: string[] = [];
  for (const k of ['intervalMs', 'failuresToTrigger', 'probeTimeoutMs'] as const) {
    if (current[k] !== next[k]) changes.push(`${k} ${current[k]} → ${next[k]}`);
  }
  const a = current.failover as Record<string, unknown>;
  const b = next.failover as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (stable(a[k]) !== stable(b[k]))
      changes.push(`failover.${k} ${stable(a[k]) ?? 'unset'} → ${stable(b[k]) ?? 'unset'}`);
  }
  return changes;
}

/** Why `next` cannot configure a monitor, or undefined when it can. */
export function invalidMonitorConfig(next: MonitorConfig): string | undefined {
  if (!(next.intervalMs > 0)) return 'intervalMs must be positive';
  if (!(next.probeTimeoutMs > 0)) return 'probeTimeoutMs must be positive';
  if (!Number.isInteger(next.failuresToTrigger) || next.failuresToTrigger < 1)
    return 'failuresToTrigger must be an integer of at least 1';
  if (!next.failover?.approvalPolicy) return 'failover.approvalPolicy is required';
  return undefined;
}

export interface MonitorProbe {
  at: string;
  healthy: boolean;
  detail: string;
}

export interface MonitorTrigger {
  failoverId: string;
  workflowId: string;
  at: string;
  afterFailures: number;
}

export interface FailoverMonitorState {
  group: string;
  status: 'probing' | 'failover_running' | 'stopped';
  probes: number;
  consecutiveFailures: number;
  /** False from a trigger until the failover has ended and a probe succeeded: one outage, one failover. */
  armed: boolean;
  lastProbe?: MonitorProbe;
  recent: MonitorProbe[];
  triggered: MonitorTrigger[];
  activeFailoverWorkflowId?: string;
  /** How many times the monitor continued as new. */
  generations: number;
  /** The configuration it probes with now (the latest configureMonitorUpdate, else its input). */
  config?: MonitorConfig;
  /** The last configuration change it took (configureMonitorSignal), field by field. */
  lastConfigChange?: { at: string; changes: string[] };
  /** The last time one of its own calls failed (it keeps probing regardless); `probe` is the probe count then. */
  lastError?: { at: string; message: string; probe: number };
}

/** Stops the monitor after its current probe (a cancel request works too). */
export const stopMonitorSignal = defineSignal<[{ by?: string; reason?: string }?]>('stop');
/** The monitor's counters, recent probes and the failovers it started. */
export const monitorStatusQuery = defineQuery<FailoverMonitorState>('monitorStatus');
/**
 * Replaces a running monitor's configuration from its next probe on (a no-op when nothing differs). A signal, not
 * an update: the worker sends it at start-up, before it polls, and must not wait for a workflow task to answer.
 */
export const configureMonitorSignal = defineSignal<[MonitorConfig]>('configure');

export function failoverMonitorWorkflowId(group: string): string {
  return `strata-failover-monitor/${group}`;
}

/** KindKey value of monitor workflows. */
export const FAILOVER_MONITOR_KIND = 'failover-monitor';
