/**
 * The plan step's assessment: what the plan costs per month (src/activities/cost) and what the Rego policies in
 * policies/ say about it, evaluated by a real OPA. Policies see the plan with its resources' attributes, the stack,
 * environment, requester, the run's explicit flags and the cost estimate.
 *
 * Fails closed: when the policies cannot be evaluated (no opa binary, a Rego compile error, a timeout) the plan
 * gets a `deny` saying so, which an admin may override where the environment allows it, instead of passing.
 *
 * While this machine has no opa binary yet (a fresh `npm start` builds it for minutes), a policy directory that
 * holds exactly the shipped policies is judged by their Wasm bundle, compiled by the pinned OPA (wasm.ts); any
 * other policies wait for OPA. Once opa is there it judges every plan.
 */
import fs from 'node:fs';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type { PlanSummary } from '../../contracts/iac';
import type { CostEstimate, PlanAssessment, PolicyReport } from '../../contracts/policy';
import type { RunKind } from '../../contracts/runs';
import type { StrataConfig } from '../../shared/config';
import { parseDuration } from '../../shared/duration';
import { awaitToolBuild, toolsBuild } from '../../shared/tools';
import type { ArtifactStore } from '../../store/artifact-store';
import type { RunLog } from '../../store/run-log';
import type { StateStore } from '../../store/state-store';
import { evaluatePolicies, policyFindings } from './opa';
import { OpaServer } from './opa-server';
import { planDetail, type PlanDetail } from './plan-detail';
import { ShippedWasm } from './wasm';

/** What policy evaluation and pricing run over. */
export interface PolicyActivityDeps {
  config: Pick<StrataConfig, 'policy'>;
  artifacts: ArtifactStore;
  state: StateStore;
  runLog: RunLog;
  /**
   * The opa binary (tools.env OPA_BIN); undefined when none was obtained. A function is asked at every plan, so a
   * binary that a background build (`npm start` on a fresh machine) finishes later is found without a restart.
   */
  opaBin?: string | (() => string | undefined);
  /** Prices a plan; none: no cost estimate. */
  estimateCost?: (detail: PlanDetail) => Promise<CostEstimate | undefined>;
  /** The compiled bundle of the shipped policies (policies-wasm/ by default), used while there is no opa binary. */
  wasmBundleDir?: string;
}

/** One plan to assess, with who asked for it and the flags the run gives. */
export interface AssessPlanInput {
  runId: string;
  stack: string;
  environment: string;
  kind: RunKind;
  requestedBy: string;
  plan: PlanSummary;
  flags?: Partial<Record<string, boolean>>;
}

/** The document every policy gets as `input` (policies/README.md describes it field by field). */
export function policyInput(t: AssessPlanInput, detail: PlanDetail, cost: CostEstimate | undefined) {
  return {
    stack: t.stack,
    environment: t.environment,
    requester: t.requestedBy,
    kind: t.kind,
    flags: t.flags ?? {},
    plan: {
      add: t.plan.add,
      change: t.plan.change,
      destroy: t.plan.destroy,
      destroy_plan: t.plan.destroyPlan,
      resource_changes: detail.changes,
    },
    resources: detail.after,
    resources_before: detail.before,
    cost: cost ?? null,
  };
}

/** Factory over the stores, the run log and the opa binary. */
export function createPolicyActivities(deps: PolicyActivityDeps) {
  const { config, artifacts, state, runLog, opaBin, estimateCost } = deps;
  const shippedWasm = new ShippedWasm(deps.wasmBundleDir);
  // One policy server per directory on this worker (opa-server.ts), started by the first plan that needs it.
  const servers = new Map<string, OpaServer>();
  const serverFor = (bin: string, dir: string) => {
    const key = `${bin}\0${dir}`;
    if (!servers.has(key)) servers.set(key, new OpaServer(bin, dir));
    return servers.get(key)!;
  };
  const log = (runId: string, level: 'info' | 'warn', message: string) =>
    runLog.append(runId, [{ ts: new Date().toISOString(), level, message }]);

  const currentOpa = () => {
    const bin = typeof opaBin === 'function' ? opaBin() : opaBin;
    return bin && fs.existsSync(bin) ? bin : undefined;
  };
  /** The opa binary, waited for (heartbeating, cancellable) while this machine is still building it. */
  async function opa(runId: string): Promise<string | undefined> {
    await awaitToolBuild({
      missing: () => (currentOpa() ? undefined : 'opa'),
      describe: () => 'OPA',
      signal: cancellationSignal(),
      onEvent: (message) => log(runId, 'info', message),
      onTick: ({ waitingFor, waitedMs }) => heartbeat({ phase: 'waiting-for-tools', waitingFor, waitedMs }),
    });
    return currentOpa() ?? (typeof opaBin === 'function' ? opaBin() : opaBin);
  }

  async function judge(
    t: AssessPlanInput,
    detail: PlanDetail,
    cost: CostEstimate | undefined,
  ): Promise<PolicyReport | undefined> {
    if (!config.policy.enabled) return undefined;
    if (!fs.existsSync(config.policy.dir)) return { results: [] };
    try {
      if (!currentOpa()) {
        const manifest = shippedWasm.matches(config.policy.dir);
        if (manifest) {
          const policy = await shippedWasm.policy(manifest);
          const results = policyFindings(policy.evaluate(policyInput(t, detail, cost)));
          const why = toolsBuild() ? 'OPA is still being built on this worker' : 'this worker has no opa binary';
          log(
            t.runId,
            'info',
            `shipped policies judged by their compiled Wasm bundle (OPA ${manifest.opaVersion}, same sources) because ${why}`,
          );
          return { results };
        }
      }
      const bin = await opa(t.runId);
      if (!bin) throw new Error('no opa binary (OPA_BIN in tools.env; run scripts/get-tools.sh)');
      const results = await evaluatePolicies(
        {
          bin,
          dir: config.policy.dir,
          server: serverFor(bin, config.policy.dir),
          timeoutMs: parseDuration(config.policy.timeout),
          signal: cancellationSignal(),
        },
        policyInput(t, detail, cost),
      );
      return { results };
    } catch (err) {
      return {
        results: [
          {
            policy: 'strata',
            rule: 'evaluation_failed',
            level: 'deny',
            message: `policies could not be evaluated: ${(err as Error).message}`,
          },
        ],
      };
    }
  }

  return {
    /** Prices the plan and evaluates the policies against it (the plan step's `policy-cost` hook). */
    async assessPlan(t: AssessPlanInput): Promise<PlanAssessment> {
      const detail = await planDetail(t, { artifacts, state });
      const cost = estimateCost ? await estimateCost(detail) : undefined;
      const policy = await judge(t, detail, cost);
      for (const r of policy?.results ?? [])
        log(t.runId, r.level === 'deny' ? 'warn' : 'info', `policy ${r.level}: ${r.policy}.${r.rule}: ${r.message}`);
      if (cost)
        log(
          t.runId,
          'info',
          `cost: ${cost.monthlyBefore.toFixed(2)} → ${cost.monthlyAfter.toFixed(2)} ${cost.currency}/month (${cost.monthlyDelta >= 0 ? '+' : ''}${cost.monthlyDelta.toFixed(2)}); ${cost.unpriced.length} unpriced; ${cost.priceTable}`,
        );
      return { cost, policy, outputChanges: detail.outputChanges };
    },
  };
}

/** The policy activities, as workflows proxy them. */
export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
