/**
 * The shipped policies compiled to WebAssembly by the pinned OPA (`npm run policy:wasm`, committed in
 * policies-wasm/), evaluated by the OPA Wasm SDK. On a fresh machine OPA is built from the Go module proxy for
 * minutes after the API is up; until it is there, a plan is judged by this bundle, but only while the policy
 * directory holds exactly the sources it was compiled from (the manifest's hash). Any other policy waits for OPA.
 *
 * The bundle's one entrypoint, `strata_wasm/tree`, is `data.strata` (a generated wrapper: OPA refuses a package
 * holding functions as an entrypoint of its own), so it gives what `opa eval data.strata` gives.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { projectRoot } from '../../shared/tools';

/** Where `npm run policy:wasm` writes the bundle of the shipped policies (outside policies/: opa loads every JSON file there as data). */
export const SHIPPED_WASM_DIR = path.join(projectRoot, 'policies-wasm');

/** The generated package whose `tree` rule is `data.strata`, and its entrypoint. */
export const WASM_ENTRY_PACKAGE = 'strata_wasm';
export const WASM_ENTRYPOINT = `${WASM_ENTRY_PACKAGE}/tree`;

/** What policies-wasm/manifest.json says about the bundle beside it. */
export interface WasmManifest {
  /** The `opa version` that compiled it. */
  opaVersion: string;
  entrypoint: string;
  /** The query the entrypoint stands for. */
  query: 'data.strata';
  /** policySourceHash of the directory it was compiled from. */
  sourceHash: string;
  /** The files that hash covers, relative to the directory. */
  files: string[];
  /** sha256 of policy.wasm and data.json, so a damaged file is an evaluation error, not another policy. */
  wasmSha256: string;
  dataSha256: string;
}

/** Files opa loads from a policy directory (`--data dir --ignore '*_test.rego'`): Rego and data, relative, sorted. */
export function policySourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && /\.(rego|json|ya?ml)$/.test(e.name) && !e.name.endsWith('_test.rego')) out.push(r);
    }
  };
  walk('');
  return out.sort();
}

/** sha256 over the sorted (relative path, content) list of what opa loads from `dir`. */
export function policySourceHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of policySourceFiles(dir)) {
    const body = fs.readFileSync(path.join(dir, f));
    // Length-prefixed, so no two different lists hash alike.
    h.update(`${f}\0${body.length}\0`);
    h.update(body);
  }
  return h.digest('hex');
}

/** Names, sizes and modification times of the hashed files: the hash is recomputed only when this changes. */
function statPrint(dir: string): string {
  return policySourceFiles(dir)
    .map((f) => {
      const st = fs.statSync(path.join(dir, f));
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('\n');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Reads the manifest; undefined when there is no bundle. */
export function readWasmManifest(bundleDir: string): WasmManifest | undefined {
  const file = path.join(bundleDir, 'manifest.json');
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as WasmManifest;
}

/** A loaded bundle: `data.strata` for an input. */
export interface WasmPolicy {
  manifest: WasmManifest;
  evaluate(input: unknown): unknown;
}

/** Loads a bundle, checking its files against the manifest. Throws on any mismatch or load error. */
export async function loadWasmPolicy(bundleDir: string, manifest: WasmManifest): Promise<WasmPolicy> {
  const wasm = fs.readFileSync(path.join(bundleDir, 'policy.wasm'));
  const data = fs.readFileSync(path.join(bundleDir, 'data.json'));
  if (sha256(wasm) !== manifest.wasmSha256 || sha256(data) !== manifest.dataSha256)
    throw new Error(`${bundleDir}: policy.wasm or data.json does not match manifest.json (run npm run policy:wasm)`);
  const policy: LoadedPolicy = await loadPolicy(wasm);
  if (!(manifest.entrypoint in policy.entrypoints))
    throw new Error(`${bundleDir}: policy.wasm has no entrypoint ${manifest.entrypoint}`);
  policy.setData(JSON.parse(data.toString('utf8')) as object);
  return {
    manifest,
    evaluate(input) {
      const out = policy.evaluate(input, manifest.entrypoint) as { result?: unknown }[] | undefined;
      // One result per evaluation of a complete rule; none would mean data.strata is undefined, which it never is.
      if (!Array.isArray(out) || out.length !== 1) throw new Error(`policy.wasm answered ${JSON.stringify(out)}`);
      return out[0].result;
    },
  };
}

/**
 * The bundle of one directory on this worker: `forDir(dir)` gives the loaded bundle when `dir` holds exactly the
 * sources it was compiled from, else undefined. The bundle is loaded once and reused; a directory's hash is
 * recomputed only when its files' names, sizes or times change.
 */
export class ShippedWasm {
  private hashes = new Map<string, { print: string; hash: string }>();
  private loaded?: Promise<WasmPolicy>;

  constructor(private readonly bundleDir: string = SHIPPED_WASM_DIR) {}

  /** The manifest when `dir` matches it (undefined: no bundle, or other policies than the bundle's). */
  matches(dir: string): WasmManifest | undefined {
    const manifest = readWasmManifest(this.bundleDir);
    if (!manifest || !fs.statSync(dir).isDirectory()) return undefined;
    const print = statPrint(dir);
    let known = this.hashes.get(dir);
    if (known?.print !== print) {
      known = { print, hash: policySourceHash(dir) };
      this.hashes.set(dir, known);
    }
    return known.hash === manifest.sourceHash ? manifest : undefined;
  }

  /** The loaded bundle (a failed load is retried at the next plan). */
  async policy(manifest: WasmManifest): Promise<WasmPolicy> {
    const current = this.loaded ? await this.loaded.catch(() => undefined) : undefined;
    if (current?.manifest.sourceHash !== manifest.sourceHash || current.manifest.wasmSha256 !== manifest.wasmSha256)
      this.loaded = loadWasmPolicy(this.bundleDir, manifest);
    return this.loaded!;
  }
}

const shipped = new ShippedWasm();

/** Whether the shipped bundle stands for the policies in `dir` (so a plan need not wait for OPA to be built). */
export function shippedWasmJudges(dir: string): boolean {
  try {
    return fs.existsSync(dir) && shipped.matches(dir) !== undefined;
  } catch {
    // Unreadable: the plan waits for OPA as it would without a bundle.
    return false;
  }
}
