/**
 * The outputs a stack declares, so a release's `inputs: {var: "stack.output"}` naming an output that does not
 * exist is refused before anything runs. Read from the stack itself, not from its last apply (a first release of a
 * new environment has none): OpenTofu stacks from their `output` blocks (.tf through the HCL parser of
 * @cdktn/hcl2json, and .tf.json), simulated stacks from the simulated executor's fixed set. CDKTF stacks declare
 * outputs only in code, so for them the outputs of the last recorded state version in the environment count.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { StackConfig } from '../../shared/config';
import type { StateStore } from '../../store/state-store';

/**
 * What every simulated stack outputs (src/executors/simulated/outputs.ts computes them; the API may not import the
 * executors, and test/api/release-validation.test.ts keeps the two lists equal).
 */
export const SIMULATED_OUTPUTS = [
  'provider',
  'region',
  'dry_run',
  'instance_count',
  'instance_ids',
  'endpoints',
  'dns_name',
  'bucket_url',
  'database_endpoint',
  'healthy',
] as const;

/** Where a stack's outputs were read from, for the refusal message. */
export interface DeclaredOutputs {
  names: string[];
  source: 'declared' | 'last-recorded' | 'none';
}

type HclParse = (filename: string, contents: string) => Promise<Record<string, unknown>>;
let hclParse: HclParse | undefined;

async function tofuOutputs(dir: string): Promise<string[]> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.tf') || f.endsWith('.tf.json'))
    .sort();
  const names = new Set<string>();
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    hclParse ??= (await import('@cdktn/hcl2json')).parse as HclParse;
    const doc = f.endsWith('.json') ? (JSON.parse(text) as Record<string, unknown>) : await hclParse(f, text);
    for (const name of Object.keys((doc.output ?? {}) as Record<string, unknown>)) names.add(name);
  }
  return [...names];
}

/** The outputs `stack` offers its dependents in `environment`. */
export async function declaredOutputs(
  name: string,
  stack: Pick<StackConfig, 'executor' | 'path'>,
  environment: string,
  state: StateStore,
): Promise<DeclaredOutputs> {
  if (stack.executor === 'simulated') return { names: [...SIMULATED_OUTPUTS], source: 'declared' };
  if (stack.executor === 'tofu') {
    try {
      return { names: await tofuOutputs(stack.path), source: 'declared' };
    } catch {
      // An unreadable stack fails its own plan with a precise message; here it simply declares nothing readable.
    }
  }
  const latest = await state.latestVersion(name, environment);
  return latest ? { names: Object.keys(latest.outputs), source: 'last-recorded' } : { names: [], source: 'none' };
}
