/**
 * The contract a CDKTF stack directory fulfils: `main.ts` exports `synth`, which builds
 * `new App({ outdir, skipValidation: true })` with exactly one TerraformStack and calls `app.synth()`.
 */

/** Who is synthesizing: stacks may name resources after the environment. */
export interface SynthContext {
  stack: string;
  environment: string;
}

/** What the synth child receives (as a JSON file). */
export interface SynthRequest {
  variables: Record<string, unknown>;
  context: SynthContext;
}

/** The exports of a CDKTF stack's main.ts. */
export interface CdktfStackModule {
  synth(outdir: string, variables: Record<string, unknown>, context: SynthContext): void | Promise<void>;
}
