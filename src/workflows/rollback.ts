/**
 * RollbackWorkflow: re-applies the configuration recorded with an earlier state version against the current
 * state, as a new run with its own plan and approval — never a raw state-file restore, which orphans resources.
 */
import type { Deployment, DeploymentInput } from '../contracts/runs';
import { runStackChange } from './stack-change';

export async function rollbackWorkflow(input: DeploymentInput): Promise<Deployment> {
  return runStackChange({ ...input, kind: 'rollback' });
}
