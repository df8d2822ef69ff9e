/**
 * The variables a stack declares, read from the stack itself so the API can refuse an unknown name or a value
 * of the wrong type before any run starts: OpenTofu stacks from the `variable` blocks of their .tf files
 * (parsed with the HCL2 parser of @cdktn/hcl2json, a WebAssembly build of the HCL library) and .tf.json files,
 * simulated stacks from the `variables` of their stack.yaml. CDKTF stacks synthesize their configuration in
 * code and declare nothing readable without running it, so they are not checked here (synth validates).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { StackConfig } from './config';

/** A variable's type, as far as a request value can be checked against it. */
export type VariableType =
  | { kind: 'any' }
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'bool' }
  | { kind: 'list'; element: VariableType }
  | { kind: 'map'; element: VariableType }
  | { kind: 'tuple'; elements: VariableType[] }
  | { kind: 'object'; attributes: Record<string, { type: VariableType; optional: boolean }> }
  /** The simulated executor's `list`: strings, or one comma-separated string. */
  | { kind: 'string-list' };

/** One declared variable. */
export interface DeclaredVariable {
  type: VariableType;
  /** Declared without a default: a run must give it a value. */
  required: boolean;
  /** OpenTofu: null is a valid value (the default unless `nullable = false`). */
  nullable: boolean;
  /** Declared sensitive (tofu `sensitive = true`, stack.yaml `sensitive: true`): its value is shown as `(sensitive)`. */
  sensitive?: boolean;
  description?: string;
}

/** What a stack declares, and where it was read from. */
export interface StackVariables {
  files: string[];
  variables: Record<string, DeclaredVariable>;
}

const ANY: VariableType = { kind: 'any' };

/**
 * Parses an OpenTofu type constraint (`list(object({ a = string, b = optional(number, 1) }))`); anything it
 * does not understand is `any`, so an exotic declaration never refuses a value OpenTofu would take.
 */
export function parseTypeExpression(source: string): VariableType {
  const text = source.replace(/^\$\{([\s\S]*)\}$/, '$1');
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) throw new Error(`expected "${c}" at ${i}`);
    i++;
  };
  const ident = () => {
    ws();
    const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(i));
    if (!m) throw new Error(`expected a type at ${i}`);
    i += m[0].length;
    return m[0];
  };
  // optional()'s default is an arbitrary expression: skip it, brackets balanced, up to the closing paren.
  const skipExpression = () => {
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      } else if ('([{'.includes(c)) depth++;
      else if (')]}'.includes(c)) {
        if (depth === 0) return;
        depth--;
      }
    }
  };
  const type = (): { type: VariableType; optional: boolean } => {
    const name = ident();
    switch (name) {
      case 'string':
      case 'number':
      case 'bool':
      case 'any':
        return { type: { kind: name }, optional: false };
      case 'list':
      case 'set':
      case 'map': {
        expect('(');
        const element = type().type;
        expect(')');
        return { type: { kind: name === 'map' ? 'map' : 'list', element }, optional: false };
      }
      case 'optional': {
        expect('(');
        const inner = type().type;
        ws();
        if (text[i] === ',') {
          i++;
          skipExpression();
        }
        expect(')');
        return { type: inner, optional: true };
      }
      case 'tuple': {
        expect('(');
        expect('[');
        const elements: VariableType[] = [];
        ws();
        while (text[i] !== ']') {
          elements.push(type().type);
          ws();
          if (text[i] === ',') i++;
          ws();
        }
        expect(']');
        expect(')');
        return { type: { kind: 'tuple', elements }, optional: false };
      }
      case 'object': {
        expect('(');
        expect('{');
        const attributes: Record<string, { type: VariableType; optional: boolean }> = {};
        ws();
        while (text[i] !== '}') {
          const key = ident();
          ws();
          if (text[i] !== '=' && text[i] !== ':') throw new Error(`expected "=" at ${i}`);
          i++;
          attributes[key] = type();
          ws();
          if (text[i] === ',') i++;
          ws();
        }
        expect('}');
        expect(')');
        return { type: { kind: 'object', attributes }, optional: false };
      }
      default:
        throw new Error(`unknown type ${name}`);
    }
  };
  try {
    const t = type().type;
    ws();
    return i === text.length ? t : ANY;
  } catch {
    return ANY;
  }
}

interface HclVariableBlock {
  type?: unknown;
  default?: unknown;
  nullable?: unknown;
  sensitive?: unknown;
  description?: unknown;
}

function fromHclBlock(block: HclVariableBlock): DeclaredVariable {
  const nullable = block.nullable !== false && block.nullable !== '${false}';
  return {
    type: typeof block.type === 'string' ? parseTypeExpression(block.type) : ANY,
    // `default = null` on a nullable variable is a default too: the variable may be left out.
    required: !('default' in block),
    nullable,
    sensitive: block.sensitive === true || block.sensitive === '${true}',
    description: typeof block.description === 'string' ? block.description : undefined,
  };
}

type HclParse = (filename: string, contents: string) => Promise<Record<string, unknown>>;
let hclParse: HclParse | undefined;

async function parseHcl(filename: string, contents: string): Promise<Record<string, unknown>> {
  // Loaded on first use: the WebAssembly module takes ~0.3 s to start, and only OpenTofu stacks need it.
  hclParse ??= (await import('@cdktn/hcl2json')).parse as HclParse;
  return hclParse(filename, contents);
}

async function readTofuVariables(dir: string): Promise<StackVariables> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.tf') || f.endsWith('.tf.json'))
    .sort();
  const variables: Record<string, DeclaredVariable> = {};
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const doc = f.endsWith('.json') ? (JSON.parse(text) as Record<string, unknown>) : await parseHcl(f, text);
    // HCL gives `variable: { name: [block] }`; .tf.json allows `{ name: block }` too.
    const blocks = (doc.variable ?? {}) as Record<string, HclVariableBlock | HclVariableBlock[]>;
    for (const [name, b] of Object.entries(blocks)) variables[name] = fromHclBlock(Array.isArray(b) ? (b[0] ?? {}) : b);
  }
  return { files: files.map((f) => path.join(dir, f)), variables };
}

const SIMULATED_FILES = ['stack.yaml', 'stack.yml', 'stack.json'];
const simulatedDefinition = z.object({
  variables: z
    .record(
      z.string(),
      z.object({
        type: z.enum(['number', 'string', 'bool', 'list']),
        default: z.unknown().optional(),
        sensitive: z.boolean().optional(),
        description: z.string().optional(),
      }),
    )
    .default({}),
});

function readSimulatedVariables(dir: string): StackVariables | undefined {
  for (const f of SIMULATED_FILES) {
    const file = path.join(dir, f);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    const parsed = simulatedDefinition.safeParse(f.endsWith('.json') ? JSON.parse(text) : YAML.parse(text));
    // A definition that does not validate fails the run's prepare step with its own message; don't guess here.
    if (!parsed.success) return undefined;
    const variables: Record<string, DeclaredVariable> = {};
    for (const [name, v] of Object.entries(parsed.data.variables)) {
      const type: VariableType = v.type === 'list' ? { kind: 'string-list' } : { kind: v.type };
      variables[name] = {
        type,
        required: v.default === undefined,
        nullable: false,
        sensitive: v.sensitive === true,
        description: v.description,
      };
    }
    return { files: [file], variables };
  }
  return undefined;
}

const cache = new Map<string, { stamp: string; value: Promise<StackVariables | undefined> }>();

/** Changes whenever a file of the stack directory changes, so an edited stack is re-read. */
function stampOf(dir: string): string {
  try {
    return fs
      .readdirSync(dir)
      .map((f) => {
        const s = fs.statSync(path.join(dir, f));
        return `${f}:${s.size}:${s.mtimeMs}`;
      })
      .join('|');
  } catch {
    return 'missing';
  }
}

/**
 * The variables `stack` declares, or undefined when it declares none that can be read (a CDKTF stack, a missing
 * or broken file: the run's own plan reports those). Cached until a file in the stack directory changes.
 */
export function declaredVariables(stack: Pick<StackConfig, 'executor' | 'path'>): Promise<StackVariables | undefined> {
  if (stack.executor === 'cdktf') return Promise.resolve(undefined);
  const key = `${stack.executor}:${stack.path}`;
  const stamp = stampOf(stack.path);
  const hit = cache.get(key);
  if (hit && hit.stamp === stamp) return hit.value;
  const value = (async () => {
    try {
      return stack.executor === 'tofu' ? await readTofuVariables(stack.path) : readSimulatedVariables(stack.path);
    } catch {
      return undefined;
    }
  })();
  cache.set(key, { stamp, value });
  return value;
}
