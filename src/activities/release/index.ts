/**
 * What a release workflow needs from outside itself: to watch its stacks' runs reach a status (a workflow cannot
 * query another), and to pass its approval on to them. A passed-on decision is signed with the worker's `release`
 * key, so the run's gate can tell it from a decision anyone reaching Temporal could type; the key stays here.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { approveUpdate, rejectUpdate, type DecisionAssertion } from '../../contracts/approval';
import { overridePolicyUpdate } from '../../contracts/policy';
import { RELEASE_ROLE } from '../../contracts/release';
import {
  deploymentWorkflowId,
  statusQuery,
  TERMINAL_STATUSES,
  type Deployment,
  type DeploymentStatus,
} from '../../contracts/runs';
import type { StrataConfig } from '../../shared/config';
import { decisionSigner, loadSignerKeys } from '../../shared/decision-signing';
import { ErrorCode } from '../../shared/errors';

/** The Temporal client and signer keys the release activities use. */
export interface ReleaseActivityDeps {
  client: Client;
  config: Pick<StrataConfig, 'approvalSigning' | 'baseDir'>;
  /** How often a watched run is read (tests shorten it). */
  pollMs?: number;
}

/** A decision a release takes on one of its runs. */
export interface ReleaseDecision {
  releaseId: string;
  runId: string;
  decision: 'approve' | 'reject' | 'override';
  planHash?: string;
  /** Who approved the release, for the record. */
  comment?: string;
  reason?: string;
}

/** Factory over an injected Temporal client and the signer keys from config. */
export function createReleaseActivities({ client, config, pollMs = 1000 }: ReleaseActivityDeps) {
  const sign = decisionSigner(loadSignerKeys(config), 'release');

  return {
    /**
     * Waits until the run's status is one of `statuses` or final, and returns it. Heartbeats while it waits, so
     * a cancelled release stops watching at once and a crashed worker's watch moves to another.
     */
    async awaitRunStatus(t: { runId: string; statuses: DeploymentStatus[] }): Promise<Deployment> {
      const handle = client.workflow.getHandle(deploymentWorkflowId(t.runId));
      for (;;) {
        let d: Deployment | undefined;
        try {
          const desc = await handle.describe();
          if (desc.status.name === 'COMPLETED') return (await handle.result()) as Deployment;
          d = await handle.query(statusQuery);
          if (desc.status.name !== 'RUNNING')
            return { ...d, status: desc.status.name === 'CANCELLED' ? 'cancelled' : 'failed' };
        } catch (err) {
          // Not visible yet right after the start, or a query while the worker restarts: look again shortly.
          if (!(err instanceof WorkflowNotFoundError)) heartbeat({ error: (err as Error).message });
        }
        if (d && (t.statuses.includes(d.status) || TERMINAL_STATUSES.includes(d.status))) return d;
        heartbeat({ status: d?.status });
        // Rejects with the cancellation when the release stops watching.
        await sleep(pollMs);
      }
    },

    /**
     * Approves, rejects, or overrides the policy denial of one of the release's runs, as the release. A refusal
     * by the run's gate comes back as a non-retryable failure whose type is the gate's reason.
     */
    async decideReleaseRun(t: ReleaseDecision): Promise<void> {
      const by = `release:${t.releaseId}`;
      const roles = [RELEASE_ROLE];
      // Signed for the run's workflow id: the run's gates verify against their own workflow id.
      const assertion: DecisionAssertion | undefined = sign({
        runId: deploymentWorkflowId(t.runId),
        decision: t.decision,
        planHash: t.planHash,
        by,
        roles,
      });
      const handle = client.workflow.getHandle(deploymentWorkflowId(t.runId));
      try {
        if (t.decision === 'approve')
          await handle.executeUpdate(approveUpdate, {
            args: [{ by, roles, planHash: t.planHash, comment: t.comment, assertion }],
          });
        else if (t.decision === 'reject')
          await handle.executeUpdate(rejectUpdate, { args: [{ by, roles, reason: t.reason, assertion }] });
        else
          await handle.executeUpdate(overridePolicyUpdate, {
            args: [{ by, roles, reason: t.reason ?? '', assertion }],
          });
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          const cause = err.cause;
          const type = cause instanceof ApplicationFailure && cause.type ? cause.type : ErrorCode.CONFLICT;
          throw ApplicationFailure.create({ type, message: cause?.message ?? err.message, nonRetryable: true });
        }
        if (err instanceof WorkflowNotFoundError)
          throw ApplicationFailure.create({
            type: ErrorCode.NOT_FOUND,
            message: `no run ${t.runId}`,
            nonRetryable: true,
          });
        throw err;
      }
    },
  };
}

/** The release activities, as workflows proxy them. */
export type ReleaseActivities = ReturnType<typeof createReleaseActivities>;
