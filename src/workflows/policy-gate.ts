/**
 * Policy and cost in the plan step: the `assessPlan` activity (called by the saga's plan step) prices the plan and evaluates the Rego policies; a
 * `deny` blocks approval (the approval gate asks `denial()`), a `warn` is shown. An admin may override a denial,
 * where the environment allows it, as a decision of its own with a reason (the `overridePolicy` Update). Where
 * nobody has to approve, a denied plan does not slip through: it waits for an override and an approval where
 * overrides are allowed, and fails with POLICY_DENIED elsewhere.
 */
import { ApplicationFailure, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DecisionActivities } from '../activities/auth';
import { APPROVAL_ERRORS, type ApprovalPolicy } from '../contracts/approval';
import {
  denialOf,
  denyingRules,
  overridePolicyUpdate,
  POLICY_DENIED,
  type OverridePolicyInput,
  type PolicyOverride,
  type PolicyReport,
} from '../contracts/policy';
import { RELEASE_ROLE } from '../contracts/release';
import { localSignatures, PATCH_LOCAL_SIGNATURES } from './approval-gate';

const signatures = proxyActivities<DecisionActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });

/** Where the policy gate sits: the run or release, its environment's override rule, its findings. */
export interface PolicyGateOptions {
  /** `environments.<env>.policy.allowOverride`. */
  allowOverride: boolean;
  /** The approval policy: whether decisions must be signed, and whether approval is delegated to a release. */
  approvalPolicy: ApprovalPolicy;
  /** The findings an override is about (a run's plan, or every stack of a release). */
  report: () => PolicyReport | undefined;
  onChange?: () => void;
  log?: (level: 'info' | 'warn', message: string) => void;
}

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** A run's (or release's) policy findings: their denial of approval, and the admin override that lifts it. */
export class PolicyGate {
  override?: PolicyOverride;

  constructor(private readonly opts: PolicyGateOptions) {}

  /** Registers the override Update; call once, at the top of the workflow. */
  install(): void {
    setHandler(overridePolicyUpdate, (input) => this.decide(input), { validator: (input) => this.validate(input) });
  }

  /** The refusal an approval gets while a policy denies the plan and nobody overrode it. */
  denial(): string | undefined {
    if (this.override) return undefined;
    const d = denialOf(this.opts.report());
    return d && (this.opts.allowOverride ? `${d} (an admin may override with a reason)` : d);
  }

  /**
   * The approval policy the gate opens with. A denied plan in an environment that approves on its own must not
   * go ahead: it waits for an override and one approval where overrides are allowed, and fails elsewhere.
   */
  gatePolicy(policy: ApprovalPolicy): ApprovalPolicy {
    const denial = this.denial();
    if (!denial || policy.required > 0) return policy;
    if (!this.opts.allowOverride)
      throw ApplicationFailure.create({ type: POLICY_DENIED, message: denial, nonRetryable: true });
    this.opts.log?.('warn', `${denial}: waiting for an admin override and an approval`);
    return { ...policy, required: 1 };
  }

  private validate(input: OverridePolicyInput): void {
    const roles = Array.isArray(input?.roles) ? input.roles : [];
    if (!input || typeof input.by !== 'string' || !input.by)
      refuse(APPROVAL_ERRORS.forbidden, 'override identity is missing');
    // A run whose approval is delegated to its release takes its release's override too.
    const delegated = this.opts.approvalPolicy.roles.includes(RELEASE_ROLE) && roles.includes(RELEASE_ROLE);
    if (!roles.includes('admin') && !delegated)
      refuse(APPROVAL_ERRORS.forbidden, `${input.by} is not an admin: only admins override a policy denial`);
    if (!this.opts.allowOverride)
      refuse(
        APPROVAL_ERRORS.forbidden,
        'this environment does not allow policy overrides (environments.<env>.policy.allowOverride)',
      );
    if (typeof input.reason !== 'string' || !input.reason.trim())
      refuse('VALIDATION_FAILED', 'an override needs a reason');
    if (this.override) refuse(APPROVAL_ERRORS.duplicate, `already overridden by ${this.override.by}`);
    if (!denialOf(this.opts.report()))
      refuse(APPROVAL_ERRORS.notAwaiting, 'no policy denies this plan: nothing to override');
  }

  private async decide(input: OverridePolicyInput): Promise<PolicyOverride> {
    let via = 'update';
    if (this.opts.approvalPolicy.signed) {
      const verifier = patched(PATCH_LOCAL_SIGNATURES) ? localSignatures : signatures;
      const verdict = await verifier.verifyDecisionSignature({
        assertion: input.assertion,
        // Signed for this workflow's id (`strata-run/<id>`, `strata-release/<id>`), as approvals are.
        runId: workflowInfo().workflowId,
        decision: 'override',
      });
      if (!verdict.ok) refuse(APPROVAL_ERRORS.forbidden, `unsigned or forged override: ${verdict.reason}`);
      if (verdict.by !== input.by)
        refuse(APPROVAL_ERRORS.forbidden, `override claims ${input.by} but is signed for ${verdict.by}`);
      via = verdict.via;
    }
    this.validate(input);
    const rules = denyingRules(this.opts.report());
    this.override = { by: input.by, at: new Date().toISOString(), reason: input.reason, rules, via };
    this.opts.log?.('warn', `policy denial overridden by ${input.by} (${rules.join(', ')}): ${input.reason}`);
    this.opts.onChange?.();
    return this.override;
  }
}
