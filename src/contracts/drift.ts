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

/** Workflow id of one scan (`scheduled` for the schedule's runs). */
export function driftScanWorkflowId(stack: string, environment: string, id: string): string {
  return `strata-drift/${stack}/${environment}/${id}`;
}

/** Every drift schedule's id starts with this, so reconciling can tell Strata's schedules from others. */
export const DRIFT_SCHEDULE_PREFIX = 'strata-drift-schedule/';

/** The one Temporal Schedule of a stack/environment's periodic scans. */
export function driftScheduleId(stack: string, environment: string): string {
  return `${DRIFT_SCHEDULE_PREFIX}${stack}/${environment}`;
}
