/**
 * The one place a workflow learns whether a decision's signature is real. The activity holds the signer keys
 * (loaded from config on the worker), so they never appear in workflow history; the workflow sees only the
 * verdict and the proven identity.
 */
import type { DecisionAssertion, DecisionKind } from '../../contracts/approval';
import type { StrataConfig } from '../../shared/config';
import { loadSignerKeys, verifyDecision, type VerifyOutcome } from '../../shared/decision-signing';

export interface VerifyDecisionInput {
  assertion?: DecisionAssertion;
  runId: string;
  decision: DecisionKind;
  planHash?: string;
}

export function createDecisionActivities({ config }: { config: Pick<StrataConfig, 'approvalSigning' | 'baseDir'> }) {
  const keys = loadSignerKeys(config);
  return {
    /** Verifies a signed decision against the configured signers; a refusal is a verdict, not an error. */
    async verifyDecisionSignature(input: VerifyDecisionInput): Promise<VerifyOutcome> {
      return verifyDecision(input.assertion, input, keys);
    },
  };
}

export type DecisionActivities = ReturnType<typeof createDecisionActivities>;
