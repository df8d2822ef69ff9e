/** The stores' filesystem helpers: directories created on demand, temp files never left behind, one lock holder. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withFileLock, writeFileAtomic } from '../../src/store/fs-util';

describe('fs-util', () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fs-util-'))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('writes into a directory that does not exist yet, and into one removed after an earlier write', async () => {
    const file = path.join(root, 'a', 'b', 'c.json');
    await writeFileAtomic(file, 'one');
    expect(fs.readFileSync(file, 'utf8')).toBe('one');
    fs.rmSync(path.join(root, 'a'), { recursive: true });
    await writeFileAtomic(file, 'two');
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
  });

  it('many concurrent writes of one file: every one lands whole and no temp file is left', async () => {
    const file = path.join(root, 'fresh', 'doc.json');
    const bodies = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(1000 * (i % 5)) }));
    await Promise.all(bodies.map((b) => writeFileAtomic(file, b)));
    expect(bodies).toContain(fs.readFileSync(file, 'utf8'));
    expect(fs.readdirSync(path.dirname(file))).toEqual(['doc.json']);
  });

  it('a lock in a missing directory is created there, and two holders never overlap', async () => {
    const lock = path.join(root, 'locks', 'x', 'stack.lock');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withFileLock(lock, async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(fs.existsSync(lock)).toBe(false);
  });
});
