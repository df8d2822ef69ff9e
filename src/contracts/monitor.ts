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
}

/** Stops the monitor after its current probe (a cancel request works too). */
export const stopMonitorSignal = defineSignal<[{ by?: string; reason?: string }?]>('stop');
/** The monitor's counters, recent probes and the failovers it started. */
export const monitorStatusQuery = defineQuery<FailoverMonitorState>('monitorStatus');

export function failoverMonitorWorkflowId(group: string): string {
  return `strata-failover-monitor/${group}`;
}

/** KindKey value of monitor workflows. */
export const FAILOVER_MONITOR_KIND = 'failover-monitor';
