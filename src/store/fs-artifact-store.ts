/** Artifact store on the local filesystem: one file per key below a root directory. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, StrataError } from '../shared/errors';
import type { ArtifactStore } from './artifact-store';
import { readFileOrUndefined, writeFileAtomic } from './fs-util';
import { artifactKeySegments } from './keys';

/** Stores artifacts as files under `root`; keys are validated so none can escape it. */
export class FsArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private file(key: string): string {
    const file = path.join(this.root, ...artifactKeySegments(key));
    // Belt and braces: the segment check already forbids '..', but a resolved path must stay below root.
    if (!file.startsWith(this.root + path.sep)) {
      throw new StrataError(
        ErrorCode.VALIDATION_FAILED,
        `invalid artifact key ${JSON.stringify(key)}: escapes the store root`,
      );
    }
    return file;
  }

  async put(key: string, data: Buffer | string): Promise<void> {
    await writeFileAtomic(this.file(key), data);
  }

  async get(key: string): Promise<Buffer> {
    const data = await readFileOrUndefined(this.file(key));
    if (!data) throw new StrataError(ErrorCode.NOT_FOUND, `artifact ${key} not found`, { key });
    return data;
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.file(key))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }
}
