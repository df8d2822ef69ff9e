/** Planning: refresh the state against the simulated cloud, diff with the desired resources, save the plan. */
import { ErrorCode } from '../../shared/errors';
import type { ConfigSnapshot, ExecutorContext, PlanSummary, StackSpec } from '../types';
import { cloudVariables } from './definition';
import { buildDesired } from './desired';
import { diff, refresh } from './diff';
import { failure } from './failures';
import { readFaults, sameValue, sha256, type ConfigDocument, type PlanDocument, type SimResource } from './model';
import { computeOutputs } from './outputs';
import { perform } from './perform';
import { loadState, type SimulatedCloud } from './persistence';
import { availability, chooseProvider, DEFAULT_PROVIDERS, type AvailabilityCheck } from './providers';

/** What the plan and apply steps need besides the call's context. */
export interface SimDeps {
  cloud: (ctx: ExecutorContext) => SimulatedCloud;
  isProviderAvailable?: AvailabilityCheck;
}

/** Loads the config snapshot and checks it is byte-for-byte the one that was captured. */
export async function loadConfigDocument(config: ConfigSnapshot, ctx: ExecutorContext): Promise<ConfigDocument> {
  let bytes: Buffer;
  try {
    bytes = await ctx.artifacts.get(config.ref);
  } catch (err) {
    throw failure(
      ErrorCode.PLAN_FAILED,
      `config snapshot ${config.ref} is not in the artifact store: ${(err as Error).message}`,
    );
  }
  if (sha256(bytes) !== config.digest) {
    throw failure(ErrorCode.PLAN_FAILED, `config snapshot ${config.ref} does not match its digest ${config.digest}`);
  }
  const doc = JSON.parse(bytes.toString('utf8')) as ConfigDocument;
  if (doc.format !== 'strata-sim-config/1')
    throw failure(ErrorCode.PLAN_FAILED, `${config.ref} is not a simulated-cloud config snapshot`);
  return doc;
}

const VERB = { create: 'created', update: 'updated in place', replace: 'replaced', delete: 'destroyed' } as const;
const SYMBOL = { create: '+', update: '~', replace: '-/+', delete: '-' } as const;

/** Saves under `runs/<runId>/plan.json`; a later, different plan of the same run (a verify re-plan) gets its own key. */
async function savePlan(bytes: Buffer, hash: string, ctx: ExecutorContext): Promise<string> {
  const main = `runs/${ctx.runId}/plan.json`;
  if (!(await ctx.artifacts.exists(main)) || sha256(await ctx.artifacts.get(main)) === hash) {
    await ctx.artifacts.put(main, bytes);
    return main;
  }
  const other = `runs/${ctx.runId}/plan-${hash.slice(0, 16)}.json`;
  await ctx.artifacts.put(other, bytes);
  return other;
}

/** Plans the snapshot (or, with destroy, the removal of everything) against the refreshed state. */
export async function makePlan(
  spec: StackSpec,
  config: ConfigSnapshot,
  ctx: ExecutorContext,
  deps: SimDeps,
  destroy: boolean,
): Promise<PlanSummary> {
  const doc = await loadConfigDocument(config, ctx);
  const faults = readFaults(doc.variables);
  const isAvailable = availability(faults, deps.isProviderAvailable);
  const table = spec.providers ?? DEFAULT_PROVIDERS;
  const state = await loadState(ctx);
  const reality = await deps.cloud(ctx).read(ctx.stack, ctx.environment);
  const notes: string[] = [];
  if (state.applying) {
    notes.push(`the apply of run ${state.applying.runId} did not finish; this plan converges from the state it left`);
  }

  let desired: SimResource[] = [];
  let choice: Awaited<ReturnType<typeof chooseProvider>> | undefined;
  if (!destroy) {
    choice = await chooseProvider(spec, doc.variables, isAvailable);
    notes.push(...choice.notes);
    desired = buildDesired(doc.definition, cloudVariables(doc.variables, ctx.secretValues), {
      stack: ctx.stack,
      environment: ctx.environment,
      provider: choice.provider,
      region: choice.region,
    });
  }

  const reachable = new Set<string>();
  for (const p of new Set([...state.resources.map((r) => r.provider), ...(choice ? [choice.provider] : [])])) {
    const region = table[p]?.region ?? state.resources.find((r) => r.provider === p)!.region;
    if (await isAvailable(p, region)) reachable.add(p);
  }
  const refreshed = refresh(state.resources, reality, reachable);
  for (const r of refreshed.vanished) notes.push(`${r.address} (${r.id}) was deleted outside Strata`);
  for (const m of refreshed.modified) notes.push(`${m.resource.address} (${m.resource.id}) was changed outside Strata`);

  const { changes, deferred } = diff(desired, refreshed.resources, {
    reachable,
    dryRun: (p) => table[p]?.dryRun ?? false,
    vanished: refreshed.vanished,
  });
  for (const p of new Set(deferred.map((r) => r.provider))) {
    const left = deferred.filter((r) => r.provider === p).map((r) => r.address);
    notes.push(
      `provider ${p} is unavailable: ${left.length} resource(s) stay in state until it recovers (${left.join(', ')})`,
    );
  }
  // Outputs can change with no resource change (fail_verify, a dry-run flag): project the apply on scratch
  // copies and compare, so such a plan still has changes and its apply publishes the new outputs.
  const projected = structuredClone(state);
  const scratch = structuredClone(reality);
  for (const c of changes) perform(c, projected, scratch, table[c.provider]?.dryRun ?? false);
  const outputs = choice ? computeOutputs(projected.resources, choice, faults) : {};
  const outputChanges = [...new Set([...Object.keys(state.outputs), ...Object.keys(outputs)])]
    .filter((k) => !sameValue(state.outputs[k], outputs[k]))
    .sort();
  if (changes.length === 0 && outputChanges.length > 0) notes.push(`only outputs change: ${outputChanges.join(', ')}`);

  const moving = new Set(
    changes.filter((c) => c.action === 'delete' && c.provider !== choice?.provider).map((c) => c.provider),
  );
  if (choice && moving.size > 0)
    notes.push(`resources move from ${[...moving].join(', ')} to ${choice.provider} (${choice.region})`);

  const planDoc: PlanDocument = {
    format: 'strata-sim-plan/1',
    stack: ctx.stack,
    environment: ctx.environment,
    runId: ctx.runId,
    destroy,
    stateSerial: state.serial,
    stateLineage: state.lineage,
    config: { ref: config.ref, digest: config.digest },
    ...(choice ? { provider: choice.provider, region: choice.region } : {}),
    providers: table,
    faults,
    changes,
    deferred: deferred.map((r) => r.address),
    outputs,
    outputChanges,
    notes,
  };
  const bytes = Buffer.from(JSON.stringify(planDoc, null, 2));
  const planHash = sha256(bytes);
  const planRef = await savePlan(bytes, planHash, ctx);

  for (const note of notes) ctx.log({ level: 'warn', message: note });
  for (const c of changes) {
    ctx.log({
      level: 'info',
      message: `${SYMBOL[c.action]} ${c.address} will be ${VERB[c.action]} (${c.reason})`,
      resource: c.address,
    });
  }
  const count = (...actions: string[]) => changes.filter((c) => actions.includes(c.action)).length;
  const add = count('create', 'replace');
  const change = count('update');
  const destroyCount = count('delete', 'replace');
  ctx.log({
    level: 'info',
    message: changes.length
      ? `Plan: ${add} to add, ${change} to change, ${destroyCount} to destroy.`
      : outputChanges.length
        ? `Changes to outputs only: ${outputChanges.join(', ')}.`
        : 'No changes. The simulated cloud matches the configuration.',
  });
  return {
    planRef,
    planHash,
    add,
    change,
    destroy: destroyCount,
    hasChanges: changes.length > 0 || outputChanges.length > 0,
    destroyPlan: destroy,
    resources: changes.map((c) => ({ address: c.address, type: c.type, action: c.action, provider: c.provider })),
    stateSerial: state.serial,
    stateLineage: state.lineage,
    config,
    notes,
  };
}
