/**
 * The dependency graph of a release: edges from the explicit list and from `inputs` references, checked before
 * anything runs (a stack listed twice, an unknown stack, a self-reference, a cycle named in order), and cut into
 * topological waves: a stack's wave is one more than the deepest of the stacks it depends on.
 */
import type { ReleaseEdge, ReleaseStackRequest } from '../../contracts/release';

/** A reference `stack.output` split in two; undefined when it is not one. */
export function parseOutputRef(ref: string): { stack: string; output: string } | undefined {
  const i = ref.indexOf('.');
  if (i <= 0 || i === ref.length - 1) return undefined;
  return { stack: ref.slice(0, i), output: ref.slice(i + 1) };
}

/** A valid release's edges, waves and each stack's dependencies. */
export interface ReleaseGraph {
  edges: ReleaseEdge[];
  waves: string[][];
  /** Stack → the stacks it depends on, in request order. */
  dependsOn: Map<string, string[]>;
}

/** One problem of a release definition, with the field it is about (`stacks.2.inputs.vpc`). */
export interface GraphProblem {
  path: string;
  message: string;
}

/**
 * Builds the graph or lists every problem found. `known` is the set of configured stacks; a cycle is reported
 * once, in dependency order starting from the first stack of the request that is on it (`a → b → c → a`).
 */
export function buildReleaseGraph(
  stacks: ReleaseStackRequest[],
  dependencies: ReleaseEdge[],
  known: (stack: string) => boolean,
): { graph?: ReleaseGraph; problems: GraphProblem[] } {
  const problems: GraphProblem[] = [];
  const order: string[] = [];
  const seen = new Map<string, number>();
  stacks.forEach((s, i) => {
    if (seen.has(s.stack)) {
      problems.push({
        path: `stacks.${i}.stack`,
        message: `stack ${s.stack} is listed twice (entries ${seen.get(s.stack)} and ${i})`,
      });
      return;
    }
    seen.set(s.stack, i);
    order.push(s.stack);
    if (!known(s.stack)) problems.push({ path: `stacks.${i}.stack`, message: `unknown stack "${s.stack}"` });
  });

  const edges: ReleaseEdge[] = [];
  const edgeKeys = new Set<string>();
  const addEdge = (from: string, to: string) => {
    const key = `${from}\0${to}`;
    if (edgeKeys.has(key)) return;
    edgeKeys.add(key);
    edges.push({ from, to });
  };
  dependencies.forEach((d, i) => {
    for (const end of ['from', 'to'] as const) {
      if (!seen.has(d[end]))
        problems.push({
          path: `dependencies.${i}.${end}`,
          message: `dependency names ${d[end]}, which is not a stack of this release`,
        });
    }
    if (d.from === d.to)
      problems.push({ path: `dependencies.${i}`, message: `stack ${d.from} cannot depend on itself` });
    else if (seen.has(d.from) && seen.has(d.to)) addEdge(d.from, d.to);
  });
  stacks.forEach((s, i) => {
    if (seen.get(s.stack) !== i) return;
    for (const [variable, ref] of Object.entries(s.inputs ?? {})) {
      const where = `stacks.${i}.inputs.${variable}`;
      const r = parseOutputRef(ref);
      if (!r) {
        problems.push({ path: where, message: `"${ref}" is not a reference of the form stack.output` });
        continue;
      }
      if (r.stack === s.stack)
        problems.push({
          path: where,
          message: `stack ${s.stack} cannot take an input from its own output ${r.output}`,
        });
      else if (!seen.has(r.stack))
        problems.push({
          path: where,
          message: `input ${variable} references ${ref}, but ${r.stack} is not a stack of this release`,
        });
      else addEdge(r.stack, s.stack);
    }
  });
  if (problems.length) return { problems };

  const dependsOn = new Map<string, string[]>(order.map((s) => [s, []]));
  const dependents = new Map<string, string[]>(order.map((s) => [s, []]));
  for (const e of edges) {
    dependsOn.get(e.to)!.push(e.from);
    dependents.get(e.from)!.push(e.to);
  }
  const cycle = findCycle(order, dependents);
  if (cycle) return { problems: [{ path: 'dependencies', message: `dependency cycle: ${cycle.join(' → ')}` }] };

  const wave = new Map<string, number>();
  const depth = (s: string): number => {
    const known = wave.get(s);
    if (known !== undefined) return known;
    const w = Math.max(-1, ...dependsOn.get(s)!.map(depth)) + 1;
    wave.set(s, w);
    return w;
  };
  const waves: string[][] = [];
  for (const s of order) (waves[depth(s)] ??= []).push(s);
  return { graph: { edges, waves, dependsOn }, problems: [] };
}

/** The first cycle found by a depth-first walk from each stack in request order, closed (`a → b → a`). */
function findCycle(order: string[], next: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (s: string): string[] | undefined => {
    state.set(s, 'open');
    path.push(s);
    for (const n of next.get(s) ?? []) {
      if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
      if (!state.has(n)) {
        const c = visit(n);
        if (c) return c;
      }
    }
    path.pop();
    state.set(s, 'done');
    return undefined;
  };
  for (const s of order) {
    if (state.has(s)) continue;
    const c = visit(s);
    if (c) return c;
  }
  return undefined;
}
