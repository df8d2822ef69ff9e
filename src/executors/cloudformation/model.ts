/** The documents the CloudFormation executor keeps: config snapshot, saved plan and Strata's state of the stack. */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ErrorCode } from '../../shared/errors';
import type { ResourceAction } from '../types';

/** sha256 hex of bytes or text. */
export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A failure with a code from the error table; retryable exactly when the table says so is decided by the caller. */
export function failure(type: ErrorCode, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });
}

/** The captured configuration: the template's exact text and the parameter values. */
export interface CfnConfigDocument {
  format: 'strata-cfn-config/1';
  stack: string;
  source: string;
  template: string;
  /** ParameterKey → ParameterValue; names of NoEcho parameters are listed so logs never show their values. */
  parameters: Record<string, string>;
  noEcho: string[];
}

/**
 * What "the stack's last change" is: its id (a stack deleted and re-created under the same name is another stack),
 * its status and the newest stack event. Any operation on the stack adds an event, so a plan made before it no
 * longer matches.
 */
export interface StackBaseline {
  stackId: string | null;
  status: string | null;
  lastEventId: string | null;
}

/** One resource change of the change set, as Strata reports it. */
export interface CfnChange {
  address: string;
  type: string;
  action: ResourceAction;
  /** CloudFormation's Replacement (True, False, Conditional), when it says. */
  replacement?: string;
  physicalId?: string;
}

/** The saved plan; its sha256 is the plan hash approvals name. */
export interface CfnPlanDocument {
  format: 'strata-cfn-plan/1';
  stack: string;
  environment: string;
  runId: string;
  destroy: boolean;
  stackName: string;
  region: string;
  endpoint?: string;
  config: { ref: string; digest: string };
  templateSha256: string;
  parameters: Record<string, string>;
  /** The change set the apply executes (null: destroy, or nothing to change). */
  changeSet: { id: string; name: string; type: 'CREATE' | 'UPDATE' } | null;
  baseline: StackBaseline;
  stateSerial: number;
  stateLineage: string;
  changes: CfnChange[];
  /** Parameters whose value changes (names only). */
  parameterChanges: string[];
  notes: string[];
}

/** One stack resource in Strata's state. */
export interface CfnStateResource {
  address: string;
  type: string;
  physicalId?: string;
  status?: string;
}

/** Strata's record of the stack (the StateStore body): what it last saw, and an apply under way. */
export interface CfnState {
  format: 'strata-cfn-state/1';
  serial: number;
  lineage: string;
  stackName: string;
  region: string;
  baseline: StackBaseline;
  resources: CfnStateResource[];
  outputs: Record<string, unknown>;
  /** Set before the change set is executed (or the stack deleted), cleared once the result is stored. */
  applying?: { planHash: string; runId: string; changeSetId: string | null; destroy: boolean };
}
