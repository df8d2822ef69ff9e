/**
 * How the worker starts the apply watchdog (apply-watchdog.ts) as a process of its own. A compiled build runs
 * the JavaScript beside this file; from source, the watchdog is bundled once into a single file with esbuild
 * (tsx's own compiler, a dependency already) rather than compiled by tsx at every start: node starts a bundle in ~50 ms, tsx needs
 * ~250 ms, and that start is part of every apply.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type * as Esbuild from 'esbuild';
import { projectRoot } from '../../shared/tools';

let bundled: string | undefined;

/**
 * Bundles the watchdog into `node_modules/.cache/strata/apply-watchdog-<content hash>.js` (written once, atomically),
 * where node resolves the packages left outside the bundle; undefined without esbuild.
 */
function bundle(source: string): string | undefined {
  let esbuild: typeof Esbuild;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional: without it the watchdog runs on tsx
    esbuild = require('esbuild') as typeof Esbuild;
  } catch {
    return undefined;
  }
  const out = esbuild.buildSync({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    write: false,
    logLevel: 'silent',
    // The SDKs a state store may need stay packages of their own: node resolves them from the project.
    packages: 'external',
    absWorkingDir: path.dirname(source),
  }).outputFiles[0].contents;
  const dir = path.join(projectRoot, 'node_modules', '.cache', 'strata');
  const file = path.join(dir, `apply-watchdog-${createHash('sha256').update(out).digest('hex').slice(0, 16)}.js`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, file);
  }
  return file;
}

/** node arguments that start the watchdog: the compiled file, the bundle, or the source through tsx. */
export function watchdogEntry(): string[] {
  const js = path.join(__dirname, 'apply-watchdog.js');
  if (fs.existsSync(js)) return [js];
  const ts = path.join(__dirname, 'apply-watchdog.ts');
  if (bundled && fs.existsSync(bundled)) return [bundled];
  try {
    bundled = bundle(ts);
  } catch {
    bundled = undefined;
  }
  return bundled ? [bundled] : ['--require', require.resolve('tsx/cjs'), ts];
}
