/**
 * The project root a module finds from where it runs: from source (src/shared) and from the compiled build
 * (dist/src/shared, as the container image and docker-compose run it). The shipped policy bundle, the default
 * data directory and the tool bootstrap are all found from it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transformSync } from '@swc/core';

/** tools.ts compiled to CommonJS at `rel` inside a fresh tree whose root holds a package.json; its projectRoot. */
function projectRootWhenAt(rel: string): { root: string; found: string } {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-root-')));
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'strata' }));
  const source = fs.readFileSync(path.join(__dirname, '../../src/shared/tools.ts'), 'utf8');
  const { code } = transformSync(source, {
    filename: 'tools.ts',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  const file = path.join(root, rel, 'tools.js');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
  // The compiled copy, loaded as a build would load it.
  const found = (require(file) as { projectRoot: string }).projectRoot;
  fs.rmSync(root, { recursive: true, force: true });
  return { root, found };
}

describe('projectRoot', () => {
  it('is the directory holding package.json when running from source', () => {
    const { root, found } = projectRootWhenAt('src/shared');
    expect(found).toBe(root);
  });

  it('is the same directory when running from the compiled build (dist/src/shared)', () => {
    const { root, found } = projectRootWhenAt('dist/src/shared');
    expect(found).toBe(root);
  });
});
