/**
 * Steps that always run one right after the other, served as one activity, for executors whose steps take
 * milliseconds (the simulated cloud): a run's planning (configuration snapshot, plan, assessment) and, after the
 * apply, its verification and version record. Each part is the activity it always was, called in the same order
 * with the same inputs; what goes is the round trip between them (a local activity's dispatch and a workflow
 * activation each). Every part is idempotent, as a local activity's must be, so retrying the whole repeats
 * nothing that must not repeat; an apply is never part of one.
 */
import type { IacActivities, StateVersionSummary } from '../iac';
import type { PolicyActivities } from '../policy';
import type { ConfigSnapshot, PlanSummary } from '../../contracts/iac';
import type { PlanAssessment } from '../../contracts/policy';

type Parts = Pick<IacActivities, 'prepareRun' | 'planRun' | 'verifyRun' | 'recordVersion'> &
  Pick<PolicyActivities, 'assessPlan'>;

export interface PlanStepsInput {
  prepare: Parameters<IacActivities['prepareRun']>[0];
  /** planRun's input but the configuration, which is the snapshot just taken. */
  plan: Omit<Parameters<IacActivities['planRun']>[0], 'config'>;
  /** assessPlan's input but the plan; absent: no assessment. */
  assess?: Omit<Parameters<PolicyActivities['assessPlan']>[0], 'plan'>;
}

export interface PlanStepsResult {
  config: ConfigSnapshot;
  plan: PlanSummary;
  assessed?: PlanAssessment;
}

export interface VerifyAndRecordInput {
  /** verifyRun's input; absent when the run verifies nothing (no checks, or a destroy). */
  verify?: Parameters<IacActivities['verifyRun']>[0];
  record: Parameters<IacActivities['recordVersion']>[0];
}

export function createStepActivities(parts: Parts) {
  return {
    /** prepareRun → planRun → assessPlan, as the saga's planning step calls them. */
    async planSteps(t: PlanStepsInput): Promise<PlanStepsResult> {
      const config = await parts.prepareRun(t.prepare);
      const plan = await parts.planRun({ ...t.plan, config });
      const assessed = t.assess ? await parts.assessPlan({ ...t.assess, plan }) : undefined;
      return { config, plan, ...(assessed ? { assessed } : {}) };
    },

    /** verifyRun (when asked) → recordVersion: a failed verification records nothing, as before. */
    async verifyAndRecord(t: VerifyAndRecordInput): Promise<StateVersionSummary> {
      if (t.verify) await parts.verifyRun(t.verify);
      return parts.recordVersion(t.record);
    },
  };
}

/** The combined steps, as workflows proxy them. */
export type StepActivities = ReturnType<typeof createStepActivities>;
