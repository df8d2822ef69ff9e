/** Types and ids of the drift scan, run on demand or by a Temporal Schedule per stack/environment. */
import type { DriftReport } from './iac';
import type { DeploymentInput } from './runs';

export interface DriftScanInput {
  stack: string;
  environment: string;
  requestedBy: string;
  /** When drift is found, re-apply the current version's configuration through the normal saga (with its approvals). */
  remediation?: Omit<DeploymentInput, 'id' | 'createdAt' | 'targetVersion' | 'expectedCurrentVersion' | 'kind'>;
}

export interface DriftScanResult extends DriftReport {
  stack: string;
  environment: string;
  /** The state version whose configuration was compared with reality. */
  version?: number;
  /** Run id of the remediation started for this drift, if any. */
  remediationId?: string;
}

export function driftScanWorkflowId(stack: string, environment: string, id: string): string {
  return `strata-drift/${stack}/${environment}/${id}`;
}

export function driftScheduleId(stack: string, environment: string): string {
  return `strata-drift-schedule/${stack}/${environment}`;
}
