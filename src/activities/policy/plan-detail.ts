/**
 * A plan with its resources' attributes, for policies and pricing: what the stack has now, what each change
 * makes of a resource, and what the stack will have after the apply. The plan summary that travels through
 * workflow history is kept small and attribute-free on purpose; this is read inside the activity from the
 * stores and never leaves it except as policy findings and a cost estimate.
 *
 * The simulated executor's saved plan is a JSON document with every change's before and after. OpenTofu's saved
 * plan is binary (only `tofu show -json` in the planning workspace reads it), so for OpenTofu and CDKTF stacks the
 * attributes are the current state's: a created resource has no attributes yet, an updated one shows its current
 * ones. Policies see `after: null` for what they cannot know and must not treat it as compliant by accident.
 */
import type { ArtifactStore } from '../../store/artifact-store';
import type { StateStore } from '../../store/state-store';
import type { PlanSummary, ResourceAction } from '../../contracts/iac';
import type { PlanDocument, SimState } from '../../executors/simulated/model';
import { parseState } from '../../executors/tofu/plan-json';

/** A resource as the stack has it (or will have it). */
export interface DetailedResource {
  address: string;
  type: string;
  provider?: string;
  /** Undefined when not known before the apply. */
  attributes?: Record<string, unknown>;
}

/** One planned change with the resource before and after (null where it does not exist or is not known). */
export interface DetailedChange {
  address: string;
  type: string;
  provider?: string;
  action: ResourceAction;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

/** A plan's changes with attributes, and the stack's resources before and after it. */
export interface PlanDetail {
  changes: DetailedChange[];
  before: DetailedResource[];
  after: DetailedResource[];
  /** Outputs the plan changes, where the engine says so before applying. */
  outputChanges?: string[];
}

/** The simulated executor's saved plan: every change with its before and after. */
function simulatedDetail(doc: PlanDocument, current: SimState | undefined): PlanDetail {
  const before: DetailedResource[] = (current?.resources ?? []).map((r) => ({
    address: r.address,
    type: r.type,
    provider: r.provider,
    attributes: r.attributes,
  }));
  const byAddress = new Map(before.map((r) => [r.address, r]));
  const changes: DetailedChange[] = doc.changes.map((c) => ({
    address: c.address,
    type: c.type,
    provider: c.provider,
    action: c.action,
    before: c.before?.attributes ?? null,
    after: c.action === 'delete' ? null : (c.after?.attributes ?? null),
  }));
  for (const c of doc.changes) {
    if (c.action === 'delete') byAddress.delete(c.address);
    else if (c.after)
      byAddress.set(c.address, {
        address: c.address,
        type: c.type,
        provider: c.provider,
        attributes: c.after.attributes,
      });
  }
  return { changes, before, after: [...byAddress.values()], outputChanges: doc.outputChanges };
}

/** OpenTofu and CDKTF: the current tfstate's attributes, the plan's actions. */
function stateDetail(plan: PlanSummary, body: string | undefined): PlanDetail {
  const state = parseState(body);
  const before: DetailedResource[] = state.resources.map((r) => ({
    address: r.address,
    type: r.type,
    provider: r.provider,
    attributes: r.attributes,
  }));
  const byAddress = new Map(before.map((r) => [r.address, r]));
  const changes: DetailedChange[] = plan.resources.map((r) => {
    const had = byAddress.get(r.address)?.attributes ?? null;
    return {
      address: r.address,
      type: r.type,
      provider: r.provider,
      action: r.action,
      before: had,
      after: r.action === 'delete' ? null : r.action === 'update' ? had : null,
    };
  });
  for (const r of plan.resources) {
    if (r.action === 'delete') byAddress.delete(r.address);
    else if (r.action === 'create' || r.action === 'replace')
      byAddress.set(r.address, { address: r.address, type: r.type, provider: r.provider });
  }
  return { changes, before, after: [...byAddress.values()] };
}

/** Reads the plan's detail from the artifact and state stores. */
export async function planDetail(
  t: { stack: string; environment: string; plan: PlanSummary },
  stores: { artifacts: ArtifactStore; state: StateStore },
): Promise<PlanDetail> {
  const current = await stores.state.getCurrentState(t.stack, t.environment);
  if (t.plan.config.executor === 'simulated') {
    const doc = JSON.parse((await stores.artifacts.get(t.plan.planRef)).toString('utf8')) as PlanDocument;
    return simulatedDetail(doc, current?.body ? (JSON.parse(current.body) as SimState) : undefined);
  }
  return stateDetail(t.plan, current?.body);
}
