/** DestroyWorkflow: plan -destroy → approval (always high risk) → apply → a state version of kind `destroy`. */
import type { Deployment, DeploymentInput } from '../contracts/runs';
import { runStackChange } from './stack-change';

export async function destroyWorkflow(input: DeploymentInput): Promise<Deployment> {
  return runStackChange({ ...input, kind: 'destroy' });
}
