/** Planning: a change set made from the snapshot's template and parameters, described and saved as the plan. */
import path from 'node:path';
import fs from 'node:fs/promises';
import {
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  type Change,
  type CloudFormationClient,
} from '@aws-sdk/client-cloudformation';
import { cfnParameters, findCfnTemplate, parseCfnTemplate } from '../../shared/cfn-template';
import { ErrorCode } from '../../shared/errors';
import type { ConfigSnapshot, ExecutorContext, PlanSummary, StackSpec } from '../types';
import { baselineOf, describeStack, SETTLED, stackResources, targetOf, waitForChangeSet, type CfnTarget } from './aws';
import { failure, sha256, type CfnChange, type CfnConfigDocument, type CfnPlanDocument } from './model';
import { loadState } from './state';

/** Capabilities every change set is made with: the approval of the plan is Strata's acknowledgement. */
export const CAPABILITIES = ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND'] as const;

/** CloudFormation's way of saying a change set (or update) would change nothing. */
const NO_CHANGES = /didn't contain changes|No updates are to be performed/i;

/** Reads the stack's template and turns its variables into parameter values. */
export async function captureConfig(spec: StackSpec, ctx: ExecutorContext): Promise<ConfigSnapshot> {
  const file = findCfnTemplate(spec.path);
  if (!file) throw failure(ErrorCode.PLAN_FAILED, `no template.yaml, template.yml or template.json in ${spec.path}`);
  const template = await fs.readFile(file, 'utf8');
  let declared;
  try {
    declared = cfnParameters(parseCfnTemplate(template));
  } catch (err) {
    throw failure(ErrorCode.VALIDATION_FAILED, `${path.basename(file)} does not parse: ${(err as Error).message}`);
  }
  const parameters: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.variables ?? {})) {
    if (!declared[name]) {
      throw failure(
        ErrorCode.VALIDATION_FAILED,
        `variable "${name}" is not a parameter of ${path.basename(file)} (it declares ${Object.keys(declared).join(', ') || 'none'})`,
      );
    }
    if (value === null || value === undefined) continue;
    parameters[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  const missing = Object.entries(declared)
    .filter(([n, p]) => !p.hasDefault && parameters[n] === undefined)
    .map(([n]) => n);
  if (missing.length)
    throw failure(ErrorCode.VALIDATION_FAILED, `parameters without a default need a value: ${missing.join(', ')}`);
  const doc: CfnConfigDocument = {
    format: 'strata-cfn-config/1',
    stack: spec.stack,
    source: path.basename(file),
    template,
    parameters,
    noEcho: Object.entries(declared)
      .filter(([, p]) => p.noEcho)
      .map(([n]) => n),
  };
  const bytes = Buffer.from(JSON.stringify(doc, null, 2));
  const ref = `runs/${ctx.runId}/config.json`;
  await ctx.artifacts.put(ref, bytes);
  ctx.log({
    level: 'info',
    message: `captured ${doc.source} (${sha256(template).slice(0, 12)}): parameters ${Object.keys(parameters).join(', ') || 'none'}`,
  });
  return { ref, digest: sha256(bytes), executor: 'cloudformation', variables: spec.variables ?? {} };
}

/** Loads the config snapshot and checks it is byte-for-byte the one that was captured. */
export async function loadConfig(config: ConfigSnapshot, ctx: ExecutorContext): Promise<CfnConfigDocument> {
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
  const doc = JSON.parse(bytes.toString('utf8')) as CfnConfigDocument;
  if (doc.format !== 'strata-cfn-config/1')
    throw failure(ErrorCode.PLAN_FAILED, `${config.ref} is not a CloudFormation config snapshot`);
  return doc;
}

/** Strata's action for one change-set entry. Conditional replacement is reported as a replacement: the worse case. */
function toChange(c: Change): CfnChange | undefined {
  const rc = c.ResourceChange;
  if (!rc?.LogicalResourceId) return undefined;
  const replacement = rc.Replacement;
  const action =
    rc.Action === 'Add' || rc.Action === 'Import'
      ? 'create'
      : rc.Action === 'Remove'
        ? 'delete'
        : replacement === 'True' || replacement === 'Conditional'
          ? 'replace'
          : 'update';
  return {
    address: rc.LogicalResourceId,
    type: rc.ResourceType ?? 'unknown',
    action,
    ...(replacement ? { replacement } : {}),
    ...(rc.PhysicalResourceId ? { physicalId: rc.PhysicalResourceId } : {}),
  };
}

/** Saves under `runs/<runId>/plan.json`; a later, different plan of the same run gets its own key. */
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

/** A change set name unique to this plan: [A-Za-z][-A-Za-z0-9]*, at most 128 characters. */
function changeSetName(runId: string): string {
  const tail = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return `strata-${runId.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 100)}-${tail}`.slice(0, 128);
}

const VERB = {
  create: 'created',
  update: 'updated in place',
  replace: 'replaced',
  delete: 'destroyed',
  'no-op': 'kept',
  read: 'read',
} as const;
const SYMBOL = { create: '+', update: '~', replace: '-/+', delete: '-', 'no-op': ' ', read: '<=' } as const;

/** Plans the snapshot (or the stack's deletion) and saves the plan. */
export async function makePlan(
  spec: StackSpec,
  config: ConfigSnapshot,
  ctx: ExecutorContext,
  cfnFor: (t: CfnTarget) => CloudFormationClient,
  destroy: boolean,
): Promise<PlanSummary> {
  const doc = await loadConfig(config, ctx);
  const target = targetOf(spec);
  const cfn = cfnFor(target);
  const state = await loadState(ctx);
  const notes: string[] = [];
  if (state.applying)
    notes.push(`the apply of run ${state.applying.runId} did not finish; this plan starts from the stack as it is now`);

  let stack = await describeStack(cfn, target.stackName);
  if (stack && !SETTLED.test(stack.StackStatus ?? '') && stack.StackStatus !== 'REVIEW_IN_PROGRESS') {
    throw failure(
      ErrorCode.PLAN_FAILED,
      `stack ${target.stackName} is ${stack.StackStatus}: an operation is under way, plan again when it settles`,
    );
  }
  if (stack && state.baseline.stackId && stack.StackId !== state.baseline.stackId) {
    notes.push(
      `stack ${target.stackName} is not the one Strata last applied (${state.baseline.stackId}): it was replaced outside Strata`,
    );
  }
  let changeSet: CfnPlanDocument['changeSet'] = null;
  let changes: CfnChange[] = [];
  const parameterChanges: string[] = [];

  if (destroy) {
    if (stack?.StackId && stack.StackStatus !== 'REVIEW_IN_PROGRESS') {
      changes = (await stackResources(cfn, stack.StackId)).map((r) => ({
        address: r.address,
        type: r.type,
        action: 'delete' as const,
        ...(r.physicalId ? { physicalId: r.physicalId } : {}),
      }));
      if (changes.length === 0) notes.push(`stack ${target.stackName} has no resources; it is deleted all the same`);
    }
  } else {
    if (stack?.StackStatus === 'REVIEW_IN_PROGRESS' || stack?.StackStatus === 'ROLLBACK_COMPLETE') {
      // A stack that never got created: the change set of an abandoned plan, or a failed first create. Neither holds
      // a resource, and CloudFormation can only start it over, so it is removed before a fresh CREATE change set.
      notes.push(
        `stack ${target.stackName} was ${stack.StackStatus} (never created); it is replaced by this plan's change set`,
      );
      await cfn.send(new DeleteStackCommand({ StackName: stack.StackId }));
      for (const deadline = Date.now() + 5 * 60_000; (stack = await describeStack(cfn, stack!.StackId!)); ) {
        if (Date.now() > deadline) throw failure(ErrorCode.PLAN_FAILED, `stack ${target.stackName} did not go away`);
        ctx.heartbeat({ phase: 'delete-unused-stack' });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const type = stack ? 'UPDATE' : 'CREATE';
    if (stack) {
      const current = new Map((stack.Parameters ?? []).map((p) => [p.ParameterKey, p.ParameterValue]));
      for (const [k, v] of Object.entries(doc.parameters))
        if (current.get(k) !== v && !doc.noEcho.includes(k)) parameterChanges.push(k);
    }
    const name = changeSetName(ctx.runId);
    let id: string | undefined;
    try {
      const out = await cfn.send(
        new CreateChangeSetCommand({
          // By name: the change set's StackId is checked against the stack described above.
          StackName: target.stackName,
          ChangeSetName: name,
          ChangeSetType: type,
          TemplateBody: doc.template,
          Parameters: Object.entries(doc.parameters).map(([ParameterKey, ParameterValue]) => ({
            ParameterKey,
            ParameterValue,
          })),
          Capabilities: [...CAPABILITIES],
          Tags: [
            { Key: 'strata:stack', Value: spec.stack },
            { Key: 'strata:environment', Value: spec.environment },
          ],
          Description: `Strata run ${ctx.runId}`,
        }),
      );
      id = out.Id;
    } catch (err) {
      if (!NO_CHANGES.test((err as Error).message)) {
        throw failure(
          ErrorCode.PLAN_FAILED,
          `CreateChangeSet for ${target.stackName} failed: ${(err as Error).message}`,
        );
      }
    }
    if (id) {
      const cs = await waitForChangeSet(cfn, id, ctx);
      if (cs.Status === 'FAILED') {
        if (!NO_CHANGES.test(cs.StatusReason ?? '')) {
          throw failure(ErrorCode.PLAN_FAILED, `change set ${name} failed: ${cs.StatusReason ?? 'no reason given'}`);
        }
        // An empty change set cannot be executed; leaving it would only clutter the stack.
        await cfn.send(new DeleteChangeSetCommand({ ChangeSetName: id })).catch(() => undefined);
      } else {
        if (stack?.StackId && cs.StackId !== stack.StackId) {
          throw failure(
            ErrorCode.PLAN_FAILED,
            `change set ${name} belongs to stack ${cs.StackId}, not ${stack.StackId}: plan again`,
          );
        }
        changeSet = { id, name, type };
        changes = (cs.Changes ?? []).map(toChange).filter((c): c is CfnChange => Boolean(c));
        if (!stack) stack = await describeStack(cfn, cs.StackId ?? target.stackName);
        if (changes.length === 0) {
          notes.push(
            parameterChanges.length
              ? `only parameters change: ${parameterChanges.join(', ')}`
              : 'the change set lists no resource change (parameters, outputs, tags or metadata change)',
          );
        }
        if (changes.some((c) => c.replacement === 'Conditional')) {
          notes.push('CloudFormation says some replacements are conditional: they are counted as replacements');
        }
      }
    }
  }

  const baseline = await baselineOf(cfn, stack);
  const planDoc: CfnPlanDocument = {
    format: 'strata-cfn-plan/1',
    stack: ctx.stack,
    environment: ctx.environment,
    runId: ctx.runId,
    destroy,
    stackName: target.stackName,
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    config: { ref: config.ref, digest: config.digest },
    templateSha256: sha256(doc.template),
    parameters: Object.fromEntries(
      Object.entries(doc.parameters).map(([k, v]) => [k, doc.noEcho.includes(k) ? `sha256:${sha256(v)}` : v]),
    ),
    changeSet,
    baseline,
    stateSerial: state.serial,
    stateLineage: state.lineage,
    changes,
    parameterChanges,
    notes,
  };
  const bytes = Buffer.from(JSON.stringify(planDoc, null, 2));
  const planHash = sha256(bytes);
  const planRef = await savePlan(bytes, planHash, ctx);

  for (const note of notes) ctx.log({ level: 'warn', message: note });
  for (const c of changes) {
    const how = c.replacement ? ` (replacement: ${c.replacement})` : '';
    ctx.log({
      level: 'info',
      message: `${SYMBOL[c.action]} ${c.address} (${c.type}) will be ${VERB[c.action]}${how}`,
      resource: c.address,
    });
  }
  const count = (...a: string[]) => changes.filter((c) => a.includes(c.action)).length;
  const add = count('create', 'replace');
  const change = count('update');
  const destroyCount = count('delete', 'replace');
  const stackGoes = destroy && baseline.stackId !== null;
  const hasChanges = changeSet !== null || stackGoes;
  ctx.log({
    level: 'info',
    message: hasChanges
      ? `Plan: ${add} to add, ${change} to change, ${destroyCount} to destroy${changeSet ? ` (change set ${changeSet.name})` : stackGoes ? ` (delete stack ${target.stackName})` : ''}.`
      : `No changes. Stack ${target.stackName} matches the configuration.`,
  });
  return {
    planRef,
    planHash,
    add,
    change,
    destroy: destroyCount,
    hasChanges,
    destroyPlan: destroy,
    resources: changes.map((c) => ({ address: c.address, type: c.type, action: c.action, provider: 'aws' })),
    stateSerial: state.serial,
    stateLineage: state.lineage,
    config,
    notes,
  };
}
