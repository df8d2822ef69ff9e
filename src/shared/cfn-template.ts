/**
 * Reading a CloudFormation template just far enough for Strata: which file it is and which Parameters it
 * declares. CloudFormation itself parses and validates the template when a change set is made; the API uses the
 * Parameters to refuse unknown variables before a run starts, and the executor to build ParameterValues.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/** Template file names looked for in a stack directory, in this order. */
export const CFN_TEMPLATE_FILES = ['template.yaml', 'template.yml', 'template.json'];

/** One declared template parameter. */
export interface CfnParameter {
  type: string;
  hasDefault: boolean;
  noEcho: boolean;
  description?: string;
}

// The short forms of the intrinsic functions (!Ref, !Sub, ...) are YAML tags; Strata only reads Parameters, so
// every tag resolves to its plain value instead of failing the parse.
const INTRINSIC_TAGS = [
  'Ref',
  'Sub',
  'GetAtt',
  'Join',
  'Select',
  'Split',
  'If',
  'Equals',
  'Not',
  'And',
  'Or',
  'FindInMap',
  'Base64',
  'Cidr',
  'GetAZs',
  'ImportValue',
  'Condition',
  'Transform',
  'ToJsonString',
  'Length',
].flatMap((name) =>
  (['scalar', 'seq', 'map'] as const).map((nodeClass) => ({
    tag: `!${name}`,
    collection: nodeClass === 'scalar' ? undefined : nodeClass,
    resolve: (value: unknown) => value,
  })),
);

/** The template file of a stack directory, or undefined when it has none. */
export function findCfnTemplate(dir: string): string | undefined {
  for (const f of CFN_TEMPLATE_FILES) {
    const file = path.join(dir, f);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

/** Parses a template (JSON or YAML with intrinsic-function tags); throws on a syntax error. */
export function parseCfnTemplate(text: string): Record<string, unknown> {
  const doc = YAML.parse(text, {
    customTags: INTRINSIC_TAGS as unknown as YAML.Tags,
    logLevel: 'error',
  }) as unknown;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the template is not a mapping');
  return doc as Record<string, unknown>;
}

/** The Parameters a parsed template declares. */
export function cfnParameters(template: Record<string, unknown>): Record<string, CfnParameter> {
  const out: Record<string, CfnParameter> = {};
  const params = template.Parameters;
  if (!params || typeof params !== 'object') return out;
  for (const [name, raw] of Object.entries(params as Record<string, unknown>)) {
    const p = (raw ?? {}) as Record<string, unknown>;
    out[name] = {
      type: typeof p.Type === 'string' ? p.Type : 'String',
      hasDefault: p.Default !== undefined,
      noEcho: p.NoEcho === true || p.NoEcho === 'true',
      description: typeof p.Description === 'string' ? p.Description : undefined,
    };
  }
  return out;
}
