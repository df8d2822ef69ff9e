/** Progressive rollouts, as Temporal sees them: start, read, and the promote/pause/resume/abort Updates. */
import type { Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  abortUpdate,
  pauseUpdate,
  promoteUpdate,
  resumeUpdate,
  ROLLOUT_KIND,
  rolloutStatusQuery,
  rolloutWorkflowId,
  type Rollout,
  type RolloutAction,
  type RolloutActionInput,
  type RolloutInput,
} from '../contracts/rollout';
import { KindKey, RequestedByKey, StatusKey } from '../shared/search-attributes';
import type { progressiveRolloutWorkflow } from '../workflows';
import { decide, readWorkflow, startOnce, type ReadOutcome } from './workflow-reads';

const UPDATES = { promote: promoteUpdate, pause: pauseUpdate, resume: resumeUpdate, abort: abortUpdate } as const;

export class RolloutGateway {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /** Starts the rollout; false when one with this id already exists (a retried request). */
  start(input: RolloutInput): Promise<boolean> {
    return startOnce(() =>
      this.client.workflow.start<typeof progressiveRolloutWorkflow>('progressiveRolloutWorkflow', {
        workflowId: rolloutWorkflowId(input.id),
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: new TypedSearchAttributes([
          { key: KindKey, value: ROLLOUT_KIND },
          { key: StatusKey, value: 'provisioning' },
          { key: RequestedByKey, value: input.requestedBy },
        ]),
        memo: { service: input.service, version: input.version, strategy: input.strategy.type },
        staticSummary: `${input.strategy.type} rollout of ${input.service} ${input.version} by ${input.requestedBy}`,
        staticDetails: input.reason,
      }),
    );
  }

  /** The rollout live or closed; undefined when the id names none. */
  read(id: string): Promise<ReadOutcome<Rollout> | undefined> {
    return readWorkflow(this.client.workflow.getHandle(rolloutWorkflowId(id)), rolloutStatusQuery);
  }

  /** Runs one action as an Update; a validator's refusal becomes FORBIDDEN (403) or CONFLICT (409) naming why. */
  async act(id: string, action: RolloutAction, input: RolloutActionInput): Promise<void> {
    await decide(
      () => this.client.workflow.getHandle(rolloutWorkflowId(id)).executeUpdate(UPDATES[action], { args: [input] }),
      `no rollout with id "${id}"`,
    );
  }
}
