/**
 * Offline CDKTF synthesis in a child process: `node <tsx cli> synth-runner.ts <main.ts> <outdir> <request>`,
 * then `cdktf.out/manifest.json` → `stacks/<id>/cdk.tf.json`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorCode } from '../../shared/errors';
import type { LogEntry } from '../types';
import { runTool } from '../tofu/run-tool';
import type { SynthContext, SynthRequest } from './stack-module';

/** Inputs of one synth. */
export interface SynthOptions {
  /** Stack directory holding `main.ts`. */
  stackDir: string;
  variables: Record<string, unknown>;
  context: SynthContext;
  /** Scratch directory for cdktf.out; emptied first. */
  outdir: string;
  /** A synth hanging longer than this is killed (default 120 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  heartbeat?: (details: unknown) => void;
  log?: (entry: Omit<LogEntry, 'ts'>) => void;
}

/** The synthesized stack. */
export interface SynthResult {
  stackId: string;
  /** cdk.tf.json with the backend removed (Strata owns state). */
  config: Record<string, unknown>;
  durationMs: number;
}

function synthFailed(message: string): ApplicationFailure {
  // Non-retryable: the same code synthesizes the same way on any worker.
  return ApplicationFailure.create({ type: ErrorCode.SYNTH_FAILED, nonRetryable: true, message });
}

function runnerPath(): string {
  const ts = path.join(__dirname, 'synth-runner.ts');
  return fs.existsSync(ts) ? ts : path.join(__dirname, 'synth-runner.js');
}

/** Synthesizes a CDKTF stack offline in a child process; SYNTH_FAILED on any error or timeout. */
export async function synthStack(opts: SynthOptions): Promise<SynthResult> {
  const mainFile = path.join(opts.stackDir, 'main.ts');
  if (!fs.existsSync(mainFile)) {
    throw ApplicationFailure.create({
      type: ErrorCode.STACK_NOT_FOUND,
      nonRetryable: true,
      message: `CDKTF stack ${opts.stackDir} has no main.ts`,
    });
  }
  fs.rmSync(opts.outdir, { recursive: true, force: true });
  fs.mkdirSync(opts.outdir, { recursive: true });
  const requestFile = path.join(opts.outdir, 'strata-synth-request.json');
  const request: SynthRequest = { variables: opts.variables, context: opts.context };
  fs.writeFileSync(requestFile, JSON.stringify(request));

  const res = await runTool({
    bin: process.execPath,
    args: [require.resolve('tsx/cli'), runnerPath(), mainFile, opts.outdir, requestFile],
    cwd: opts.stackDir,
    // The user's stack must not read CDKTF_* settings meant for some other app on this worker.
    env: { ...process.env, CDKTF_OUTDIR: opts.outdir, CHECKPOINT_DISABLE: '1', DISABLE_VERSION_CHECK: '1' },
    signal: opts.signal,
    // Synth changes nothing outside its scratch dir, so there is nothing to wait for on cancel.
    graceMs: 2_000,
    timeoutMs: opts.timeoutMs ?? 120_000,
    heartbeat: ({ pid, elapsedMs }) => opts.heartbeat?.({ phase: 'synth', pid, elapsedMs }),
    onStdoutLine: (line) => opts.log?.({ level: 'info', message: line }),
    onStderrLine: (line) => opts.log?.({ level: 'warn', message: line }),
    trace: { tool: 'cdktf', subcommand: 'synth' },
  });
  if (res.timedOut)
    throw synthFailed(`synth of ${opts.stackDir} did not finish within ${opts.timeoutMs ?? 120_000} ms`);
  if (res.interrupted) throw new CancelledFailure('synth cancelled');
  if (res.code !== 0) {
    const err = res.stderr.trim();
    throw synthFailed(`synth of ${opts.stackDir} failed: ${err.length > 4000 ? `…${err.slice(-4000)}` : err}`);
  }
  return { ...readSynthOutput(opts.outdir), durationMs: res.durationMs };
}

/** Reads the one stack a synth produced, dropping its backend block. */
export function readSynthOutput(outdir: string): Omit<SynthResult, 'durationMs'> {
  const manifestFile = path.join(outdir, 'manifest.json');
  if (!fs.existsSync(manifestFile)) throw synthFailed(`synth wrote no ${manifestFile}: did main.ts call app.synth()?`);
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as {
    stacks?: Record<string, { synthesizedStackPath: string }>;
  };
  const ids = Object.keys(manifest.stacks ?? {});
  if (ids.length !== 1) {
    // One Strata stack = one state; several CDKTF stacks would need several states and an order.
    throw synthFailed(
      `a CDKTF stack must synthesize exactly one TerraformStack, got ${ids.length} (${ids.join(', ')})`,
    );
  }
  const stackId = ids[0];
  const file = path.join(outdir, manifest.stacks![stackId].synthesizedStackPath);
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown> & {
    terraform?: Record<string, unknown>;
  };
  // CDKTF adds a local backend pointing at its own working directory by default; Strata keeps state in
  // its state store and hands it to the tool as the workspace's local state, so the block must go.
  if (config.terraform) delete config.terraform.backend;
  return { stackId, config };
}
