/** Resolves failover groups of strata.yaml into workflow inputs (policies frozen when the run starts), like run-input.ts. */
import type { ApprovalPolicy } from '../contracts/approval';
import type { FailoverMonitorInput } from '../contracts/monitor';
import type { FailoverGroupConfig } from './config';
import { parseDuration } from './duration';

/** The approval policy of a group, as the approval gate takes it. */
export function groupApprovalPolicy(g: FailoverGroupConfig): ApprovalPolicy {
  return {
    required: g.approval.required,
    roles: g.approval.roles,
    fourEyes: false,
    timeoutMs: parseDuration(g.approval.timeout),
  };
}

/** What a group's monitor runs with: probe timing, and an emergency failover behind the group's approval policy. */
export function monitorInputFor(group: string, g: FailoverGroupConfig): FailoverMonitorInput {
  return {
    group,
    intervalMs: parseDuration(g.health.every),
    failuresToTrigger: g.health.failuresToTrigger,
    probeTimeoutMs: parseDuration(g.health.timeout),
    failover: { mode: 'emergency', requestedBy: 'monitor', approvalPolicy: groupApprovalPolicy(g) },
  };
}
