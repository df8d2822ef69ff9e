/** Multi-stack releases, as Temporal sees them: start, read, list, decide, cancel. */
import type { Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  approveUpdate,
  rejectUpdate,
  type ApprovalView,
  type ApproveInput,
  type RejectInput,
} from '../contracts/approval';
import { overridePolicyUpdate, type OverridePolicyInput, type PolicyOverride } from '../contracts/policy';
import {
  releaseIdFromWorkflowId,
  releaseStatusQuery,
  releaseWorkflowId,
  type Release,
  type ReleaseInput,
} from '../contracts/release';
import { SEARCH_ATTRIBUTES } from '../shared/constants';
import { EnvironmentKey, KindKey, RequestedByKey, StatusKey } from '../shared/search-attributes';
import type { releaseWorkflow } from '../workflows';
import { decide, quote, readWorkflow, startOnce, type ReadOutcome } from './workflow-reads';

/** StrataKind of a release workflow. */
export const RELEASE_KIND = 'release';

/** Every Temporal call about releases. */
export class ReleaseGateway {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /** Starts the release; false when one with this id exists already (same idempotency key). */
  start(input: ReleaseInput): Promise<boolean> {
    return startOnce(() =>
      this.client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
        workflowId: releaseWorkflowId(input.id),
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: new TypedSearchAttributes([
          { key: KindKey, value: RELEASE_KIND },
          { key: EnvironmentKey, value: input.environment },
          { key: StatusKey, value: 'planning' },
          { key: RequestedByKey, value: input.requestedBy },
        ]),
        memo: {
          environment: input.environment,
          name: input.name,
          requestedBy: input.requestedBy,
          stacks: input.stacks.map((s) => s.stack),
        },
        staticSummary: `release ${input.name ?? input.id} → ${input.environment} by ${input.requestedBy}: ${input.waves.map((w) => w.join(' + ')).join(' → ')}`,
      }),
    );
  }

  /** The release live or closed; undefined when no such release exists. */
  read(id: string): Promise<ReadOutcome<Release> | undefined> {
    return readWorkflow(this.client.workflow.getHandle(releaseWorkflowId(id)), releaseStatusQuery);
  }

  /** Release ids newest first, from visibility. */
  async list(filter: { environment?: string; status?: string }, limit: number): Promise<string[]> {
    const clauses = [`WorkflowType = 'releaseWorkflow'`];
    if (filter.environment) clauses.push(`${SEARCH_ATTRIBUTES.environment} = ${quote(filter.environment)}`);
    if (filter.status) clauses.push(`${SEARCH_ATTRIBUTES.status} = ${quote(filter.status)}`);
    const ids: string[] = [];
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      ids.push(releaseIdFromWorkflowId(info.workflowId));
      if (ids.length >= limit) break;
    }
    return ids;
  }

  approve(id: string, input: ApproveInput): Promise<ApprovalView> {
    return decide(
      () => this.client.workflow.getHandle(releaseWorkflowId(id)).executeUpdate(approveUpdate, { args: [input] }),
      `no release with id "${id}"`,
    );
  }

  reject(id: string, input: RejectInput): Promise<ApprovalView> {
    return decide(
      () => this.client.workflow.getHandle(releaseWorkflowId(id)).executeUpdate(rejectUpdate, { args: [input] }),
      `no release with id "${id}"`,
    );
  }

  overridePolicy(id: string, input: OverridePolicyInput): Promise<PolicyOverride> {
    return decide(
      () =>
        this.client.workflow.getHandle(releaseWorkflowId(id)).executeUpdate(overridePolicyUpdate, { args: [input] }),
      `no release with id "${id}"`,
    );
  }

  async cancel(id: string): Promise<void> {
    await this.client.workflow.getHandle(releaseWorkflowId(id)).cancel();
  }
}
