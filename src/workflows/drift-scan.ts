/**
 * DriftScanWorkflow: a refresh-only plan of the current version's configuration against reality, the report
 * stored beside the stack, and optionally a remediation run (a rollback to the current version, which goes
 * through the environment's approval gate like any change).
 */
import { ParentClosePolicy, proxyActivities, startChild, upsertSearchAttributes, uuid4 } from '@temporalio/workflow';
import type { IacActivities } from '../activities/iac';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { StatusKey } from '../shared/search-attributes';
import { deploymentWorkflowId } from '../contracts/runs';
import type { DriftScanInput, DriftScanResult } from '../contracts/drift';
import { rollbackWorkflow } from './rollback';

const scan = proxyActivities<IacActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '60s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

export async function driftScanWorkflow(input: DriftScanInput): Promise<DriftScanResult> {
  upsertSearchAttributes([{ key: StatusKey, value: 'scanning' }]);
  const result: DriftScanResult = await scan.scanDrift({
    runId: `drift-${uuid4()}`,
    stack: input.stack,
    environment: input.environment,
  });
  if (result.drifted && input.remediation && result.version !== undefined) {
    const id = `r-${uuid4()}`;
    await startChild(rollbackWorkflow, {
      workflowId: deploymentWorkflowId(id),
      args: [
        {
          ...input.remediation,
          id,
          kind: 'rollback',
          targetVersion: result.version,
          // A newer version may be applying right now; the run re-checks under the lock before it reverts anything.
          expectedCurrentVersion: result.version,
          createdAt: new Date().toISOString(),
          reason: `remediate drift in ${result.resources.length} resource(s)`,
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    result.remediationId = id;
  }
  await scan.saveDriftReport(result);
  upsertSearchAttributes([{ key: StatusKey, value: result.drifted ? 'drifted' : 'in_sync' }]);
  return result;
}
