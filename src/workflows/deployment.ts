/** DeploymentWorkflow: plan → approval → apply → verify → record, with automatic rollback per environment policy. */
import type { Deployment, DeploymentInput } from '../contracts/runs';
import { runStackChange } from './stack-change';

export async function deploymentWorkflow(input: DeploymentInput): Promise<Deployment> {
  return runStackChange({ ...input, kind: 'deploy' });
}
