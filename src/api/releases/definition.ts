/**
 * From a release request (inline, or `{name}` of `releases/<name>.yaml`) to the workflow's input, refusing
 * everything that would fail later before anything runs: an unknown environment, stack, variable or output, a
 * stack listed twice, a dependency cycle (named in order). Each stack's run input is the one a single
 * deployment of it would get (src/shared/run-input.ts), so a release's runs obey the same environment policies.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import type { ReleaseInput, ReleaseInputRef, ReleaseRequest, ReleaseStackPlan } from '../../contracts/release';
import type { StrataConfig } from '../../shared/config';
import { parseDuration } from '../../shared/duration';
import { ErrorCode, StrataError } from '../../shared/errors';
import { buildRunInput } from '../../shared/run-input';
import { declaredVariables } from '../../shared/stack-variables';
import type { StateStore } from '../../store/state-store';
import { deploymentBodies } from '../deployments/schemas';
import { validationError } from '../routes';
import { declaredOutputs } from './declared-outputs';
import { buildReleaseGraph, parseOutputRef, type GraphProblem } from './graph';
import { releaseDefinition, type CreateReleaseBody, type ReleaseDefinitionBody } from './schemas';

const FILE_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** A 400 listing every problem, each with the field it is about. */
function refuse(problems: GraphProblem[], where: string): never {
  const lines = problems.map((p) => `${where}${p.path}: ${p.message}`);
  throw new StrataError(ErrorCode.VALIDATION_FAILED, `invalid release: ${lines.join('; ')}`, {
    issues: problems.map((p) => ({ path: `${where}${p.path}`, message: p.message })),
  });
}

/** Reads `releases/<name>.yaml` (or .yml/.json) and validates it like an inline definition. */
export function loadReleaseFile(config: Pick<StrataConfig, 'releases'>, name: string): ReleaseDefinitionBody {
  const dir = config.releases.dir;
  const file = FILE_EXTENSIONS.map((e) => path.join(dir, `${name}${e}`)).find((f) => fs.existsSync(f));
  if (!file) {
    const known = fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => FILE_EXTENSIONS.includes(path.extname(f)))
          .map((f) => path.basename(f, path.extname(f)))
      : [];
    throw new StrataError(
      ErrorCode.VALIDATION_FAILED,
      `no release file named "${name}" in ${path.basename(dir)}/ (known: ${known.join(', ') || 'none'})`,
    );
  }
  let raw: unknown;
  try {
    const text = fs.readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new StrataError(
      ErrorCode.VALIDATION_FAILED,
      `release file ${path.basename(file)} does not parse: ${(err as Error).message}`,
    );
  }
  const parsed = releaseDefinition.safeParse(raw);
  if (!parsed.success) {
    const e = validationError(parsed.error.issues, `${path.basename(file)}`);
    throw new StrataError(
      ErrorCode.VALIDATION_FAILED,
      e.message.replace(/^invalid request/, 'invalid release file'),
      e.details,
    );
  }
  return parsed.data;
}

/** The definition a request means: inline as given, or the named file with the request's overrides. */
export function releaseRequestOf(
  config: Pick<StrataConfig, 'releases'>,
  body: CreateReleaseBody,
): { name?: string; definition: ReleaseRequest } {
  if ('name' in body) {
    const file = loadReleaseFile(config, body.name);
    return {
      name: body.name,
      definition: { ...file, environment: body.environment ?? file.environment, dryRun: body.dryRun ?? file.dryRun },
    };
  }
  const { idempotencyKey: _key, ...definition } = body;
  return { definition };
}

/**
 * Validates the definition against strata.yaml and the stacks themselves, and resolves it into the workflow input.
 * `where` prefixes field paths (`body.` inline, `platform.yaml: ` for a file).
 */
export async function resolveRelease(
  deps: { config: StrataConfig; state: StateStore },
  req: ReleaseRequest,
  opts: { id: string; requestedBy: string; name?: string },
): Promise<ReleaseInput> {
  const { config, state } = deps;
  const where = opts.name ? `releases/${opts.name}: ` : 'body.';
  const env = config.environments[req.environment];
  if (!env)
    refuse(
      [
        {
          path: 'environment',
          message: `unknown environment "${req.environment}" (known: ${Object.keys(config.environments).join(', ')})`,
        },
      ],
      where,
    );

  const { graph, problems } = buildReleaseGraph(req.stacks, req.dependencies ?? [], (s) => Boolean(config.stacks[s]));
  if (!graph) refuse(problems, where);

  const bodies = await deploymentBodies(config);
  const later: GraphProblem[] = [];
  const plans: ReleaseStackPlan[] = [];
  const waveOf = new Map(graph.waves.flatMap((w, i) => w.map((s) => [s, i] as const)));
  for (const [i, s] of req.stacks.entries()) {
    const stack = config.stacks[s.stack]!;
    const allowed = stack.environments ?? Object.keys(config.environments);
    if (!allowed.includes(req.environment)) {
      later.push({
        path: `stacks.${i}.stack`,
        message: `stack ${s.stack} does not deploy to ${req.environment} (its environments: ${allowed.join(', ')})`,
      });
      continue;
    }
    // The same per-stack schema a single deployment is checked with: unknown names and wrong types by name.
    // A variable fed by an input has no value yet: only its name is checked (below), not a missing value.
    const schema = bodies.get(s.stack) as z.ZodType | undefined;
    const fed = new Set(Object.keys(s.inputs ?? {}));
    const r = schema?.safeParse({ stack: s.stack, environment: req.environment, variables: s.variables ?? {} });
    if (r && !r.success) {
      for (const issue of r.error.issues) {
        if (issue.path[0] === 'variables' && fed.has(String(issue.path[1]))) continue;
        later.push({ path: `stacks.${i}.${issue.path.map(String).join('.')}`, message: issue.message });
      }
    }
    const declared = await declaredVariables(stack);
    const inputs: ReleaseInputRef[] = [];
    for (const [variable, ref] of Object.entries(s.inputs ?? {})) {
      const at = `stacks.${i}.inputs.${variable}`;
      if (s.variables && variable in s.variables)
        later.push({ path: at, message: `variable ${variable} is given both a value and an input; give one` });
      if (declared && !(variable in declared.variables)) {
        later.push({
          path: at,
          message: `stack ${s.stack} declares no variable ${variable} (declares: ${Object.keys(declared.variables).join(', ') || 'none'})`,
        });
      }
      const { stack: from, output } = parseOutputRef(ref)!;
      const offered = await declaredOutputs(from, config.stacks[from]!, req.environment, state);
      if (!offered.names.includes(output)) {
        const why =
          offered.source === 'none'
            ? `${from} declares no outputs Strata can read and has no recorded state in ${req.environment}`
            : `${from} ${offered.source === 'declared' ? 'declares' : 'recorded (last version in ' + req.environment + ')'}: ${offered.names.join(', ') || 'none'}`;
        later.push({ path: at, message: `unknown output ${ref}: ${why}` });
      }
      const decl = declared?.variables[variable];
      const hasDefault = decl ? decl.required === false || variable in stack.variables : false;
      const takesText = !decl || decl.type.kind === 'string' || decl.type.kind === 'any';
      inputs.push({ variable, stack: from, output, hasDefault, takesText });
    }
    const run = buildRunInput(
      config,
      { kind: 'deploy', stack: s.stack, environment: req.environment, variables: s.variables },
      opts.requestedBy,
      `${opts.id}.${s.stack}`,
    );
    plans.push({ stack: s.stack, wave: waveOf.get(s.stack)!, dependsOn: graph.dependsOn.get(s.stack)!, inputs, run });
  }
  if (later.length) refuse(later, where);

  const gate = {
    required: env.approvals.required,
    roles: env.approvals.roles,
    fourEyes: env.approvals.fourEyes,
    timeoutMs: parseDuration(env.approvals.timeout),
  };
  const signed = config.approvalSigning.required;
  return {
    id: opts.id,
    name: opts.name,
    environment: req.environment,
    requestedBy: opts.requestedBy,
    createdAt: new Date().toISOString(),
    waves: graph.waves,
    edges: graph.edges,
    stacks: plans,
    maxParallel: req.maxParallel ?? config.releases.maxParallel,
    onFailure: req.onFailure ?? 'stop',
    dryRun: req.dryRun ?? false,
    approval: req.approval ?? config.releases.approval,
    approvalPolicy: { ...gate, signed: signed && gate.required > 0 },
    // Re-applying a version this environment ran before, like the automatic rollback of a failed deployment:
    // where the environment rolls back on its own, no new approval; elsewhere its usual gate.
    rollbackApprovalPolicy: env.autoRollback
      ? { ...gate, required: 0, signed: false }
      : { ...gate, signed: signed && gate.required > 0 },
    allowPolicyOverride: env.policy.allowOverride,
  };
}
