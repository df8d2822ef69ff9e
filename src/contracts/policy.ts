/**
 * What policy evaluation (OPA over Rego in policies/) and cost estimation (the dated price table in pricing/) say
 * about a plan, and the admin override that lifts a `deny`. Shared by the sagas, the activities and the API.
 */
import { defineUpdate } from '@temporalio/workflow';
import type { Actor, DecisionAssertion } from './approval';

/** `deny` blocks approval; `warn` is shown beside the plan. */
export type PolicyLevel = 'deny' | 'warn';

/** One finding of one rule. `policy` is the Rego package below `strata.` (the file's policy), `rule` the rule's id. */
export interface PolicyResult {
  policy: string;
  rule: string;
  level: PolicyLevel;
  message: string;
}

/** Every finding on one plan (empty: every policy passed). */
export interface PolicyReport {
  results: PolicyResult[];
}

/** Monthly cost of the stack before and after the plan, from a dated price table; unpriced resources never count as zero. */
export interface CostEstimate {
  monthlyBefore: number;
  monthlyAfter: number;
  monthlyDelta: number;
  currency: string;
  /** Addresses of resources the price table has no price for (type or size unknown): not in the sums. */
  unpriced: string[];
  /** Which table priced it (`pricing/2026-11-01.yaml`), so an estimate can be traced to its prices. */
  priceTable: string;
}

/** What the plan step learns besides the plan itself. */
export interface PlanAssessment {
  cost?: CostEstimate;
  policy?: PolicyReport;
  /** Outputs the plan would change, where the engine says so before applying (the simulated cloud does). */
  outputChanges?: string[];
}

/** An admin's recorded decision to let a denied plan go to approval anyway (its own decision, with a reason). */
export interface PolicyOverride {
  by: string;
  at: string;
  reason: string;
  /** The denying rules it overrode, `policy.rule`. */
  rules: string[];
  via: string;
}

/** An override as asked for: who, with which reason, and the signer's proof. */
export interface OverridePolicyInput extends Actor {
  reason: string;
  assertion?: DecisionAssertion;
}

/** Admin override of the plan's `deny` results, where the environment allows it (`policy.allowOverride`). */
export const overridePolicyUpdate = defineUpdate<PolicyOverride, [OverridePolicyInput]>('overridePolicy');

/**
 * The explicit acknowledgements a run may give its policies (`input.flags`). Declared here, so a misspelt flag is
 * refused by name instead of silently not counting; a policy that wants a new one adds it to this list.
 */
export const POLICY_FLAGS = ['allow_database_deletion'] as const;
/** One of the declared policy flags. */
export type PolicyFlag = (typeof POLICY_FLAGS)[number];

/** The error type an approval of a denied plan is refused with (409 naming the rules). */
export const POLICY_DENIED = 'POLICY_DENIED';

/** The denying results, named `policy.rule: message`, for refusals and run errors. */
export function denialOf(report: PolicyReport | undefined): string | undefined {
  const denies = (report?.results ?? []).filter((r) => r.level === 'deny');
  if (denies.length === 0) return undefined;
  return `denied by policy: ${denies.map((r) => `${r.policy}.${r.rule}: ${r.message}`).join('; ')}`;
}

/** `policy.rule` of every denying result. */
export function denyingRules(report: PolicyReport | undefined): string[] {
  return [...new Set((report?.results ?? []).filter((r) => r.level === 'deny').map((r) => `${r.policy}.${r.rule}`))];
}
