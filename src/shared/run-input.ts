/** Resolves a run request against strata.yaml into the workflow input (policies frozen at request time). */
import type { DeploymentInput, RunKind, RunPriority } from '../contracts/runs';
import type { StrataConfig } from './config';
import { parseDuration } from './duration';
import { ErrorCode, StrataError } from './errors';

export interface StartRunRequest {
  kind: RunKind;
  stack: string;
  environment: string;
  variables?: Record<string, unknown>;
  dryRun?: boolean;
  idempotencyKey?: string;
  reason?: string;
  targetVersion?: number;
  /** Default normal; rollbacks a person asks for default to high (they restore service). */
  priority?: RunPriority;
  policyFlags?: Partial<Record<string, boolean>>;
}

/** Throws VALIDATION_FAILED naming the unknown stack or environment and what exists. */
export function buildRunInput(
  config: StrataConfig,
  req: StartRunRequest,
  requestedBy: string,
  id: string,
): DeploymentInput {
  const stack = config.stacks[req.stack];
  if (!stack) {
    throw new StrataError(
      ErrorCode.VALIDATION_FAILED,
      `unknown stack "${req.stack}" (known: ${Object.keys(config.stacks).join(', ')})`,
    );
  }
  const env = config.environments[req.environment];
  const allowed = stack.environments ?? Object.keys(config.environments);
  if (!env || !allowed.includes(req.environment)) {
    throw new StrataError(
      ErrorCode.VALIDATION_FAILED,
      `unknown environment "${req.environment}" for stack "${req.stack}" (known: ${allowed.join(', ')})`,
    );
  }
  const a = env.approvals;
  const required = req.kind === 'destroy' ? Math.max(a.required, a.destroyRequired ?? a.required) : a.required;
  return {
    id,
    kind: req.kind,
    stack: req.stack,
    environment: req.environment,
    requestedBy,
    variables: req.variables ?? {},
    dryRun: req.dryRun ?? false,
    reason: req.reason,
    targetVersion: req.targetVersion,
    approvalPolicy: {
      required,
      roles: a.roles,
      fourEyes: a.fourEyes,
      timeoutMs: parseDuration(a.timeout),
      signed: config.approvalSigning.required && required > 0,
    },
    autoRollback: env.autoRollback,
    verify: stack.verify.map((c) =>
      c.type === 'http'
        ? {
            type: 'http' as const,
            output: c.output,
            url: c.url,
            expectStatus: c.expectStatus,
            timeoutMs: parseDuration(c.timeout),
            retries: c.retries,
          }
        : c.type === 'output'
          ? { type: 'output' as const, output: c.output, equals: c.equals }
          : { type: 'replan' as const },
    ),
    createdAt: new Date().toISOString(),
    priority: req.priority ?? (req.kind === 'rollback' ? 'high' : 'normal'),
    policyFlags: req.policyFlags,
    allowPolicyOverride: env.policy.allowOverride,
    executor: stack.executor,
  };
}
