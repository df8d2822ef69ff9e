/**
 * Child-process entry point for a CDKTF synth (run with tsx by synth.ts, never imported by the worker):
 * user stack code runs here, so a crash, a leak or a hang costs this process, not the worker.
 *
 * argv: <stack main.ts> <outdir> <request.json>. The stack module exports the CdktfStackModule contract.
 */
import fs from 'node:fs';
import type { CdktfStackModule, SynthRequest } from './stack-module';

async function main(): Promise<void> {
  const [mainFile, outdir, requestFile] = process.argv.slice(2);
  if (!mainFile || !outdir || !requestFile) throw new Error('usage: synth-runner <main.ts> <outdir> <request.json>');
  const request = JSON.parse(fs.readFileSync(requestFile, 'utf8')) as SynthRequest;
  const mod = (await import(mainFile)) as Partial<CdktfStackModule> & { default?: Partial<CdktfStackModule> };
  const synth = mod.synth ?? mod.default?.synth;
  if (typeof synth !== 'function') throw new Error(`${mainFile} does not export synth(outdir, variables, context)`);
  await synth(outdir, request.variables, request.context);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
