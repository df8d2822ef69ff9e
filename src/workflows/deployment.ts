/** DeploymentWorkflow: plan → approval → apply → verify → record, with automatic rollback per environment policy. */
import type { Deployment, DeploymentInput } from './deployment.definitions';
import { runStackChange } from './stack-change';

export async function deploymentWorkflow(input: DeploymentInput): Promise<Deployment> {
  return runStackChange({ ...input, kind: 'deploy' });
}
