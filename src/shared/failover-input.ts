/** Resolves failover groups of strata.yaml into workflow inputs (policies frozen when the run starts), like run-input.ts. */
import type { ApprovalPolicy } from '../contracts/approval';
import type { FailoverMonitorInput } from '../contracts/monitor';
import type { FailoverGroupConfig, StrataConfig } from './config';
import { parseDuration } from './duration';

/** The approval policy of a group, as the approval gate takes it (signed decisions unless the config opts out). */
export function groupApprovalPolicy(
  g: FailoverGroupConfig,
  config?: Pick<StrataConfig, 'approvalSigning'>,
): ApprovalPolicy {
  return {
    required: g.approval.required,
    roles: g.approval.roles,
    fourEyes: g.approval.fourEyes,
    timeoutMs: parseDuration(g.approval.timeout),
    signed: (config?.approvalSigning.required ?? true) && g.approval.required > 0,
  };
}

/** What a group's monitor runs with: probe timing, and an emergency failover behind the group's approval policy. */
export function monitorInputFor(
  group: string,
  g: FailoverGroupConfig,
  config?: Pick<StrataConfig, 'approvalSigning'>,
): FailoverMonitorInput {
  return {
    group,
    intervalMs: parseDuration(g.health.every),
    failuresToTrigger: g.health.failuresToTrigger,
    probeTimeoutMs: parseDuration(g.health.timeout),
    failover: { mode: 'emergency', requestedBy: 'monitor', approvalPolicy: groupApprovalPolicy(g, config) },
  };
}
