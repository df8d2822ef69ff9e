/** Artifact store in S3 (or moto/minio): one object per key under `<prefix>artifacts/`. */
import type { S3Client } from '@aws-sdk/client-s3';
import { ErrorCode, StrataError } from '../shared/errors';
import type { ArtifactStore } from './artifact-store';
import { artifactKeySegments } from './keys';
import { normalizePrefix, S3Objects } from './s3-util';

/** S3 ArtifactStore for multi-worker setups: every worker sees the same saved plans and config snapshots. */
export class S3ArtifactStore implements ArtifactStore {
  private readonly objects: S3Objects;
  private readonly base: string;

  constructor(client: S3Client, opts: { bucket: string; prefix?: string }) {
    this.objects = new S3Objects(client, opts.bucket);
    this.base = `${normalizePrefix(opts.prefix)}artifacts/`;
  }

  /** Keys are validated like filesystem paths so the two stores accept exactly the same keys. */
  private key(key: string): string {
    return this.base + artifactKeySegments(key).join('/');
  }

  async put(key: string, data: Buffer | string): Promise<void> {
    await this.objects.put(this.key(key), data);
  }

  async get(key: string): Promise<Buffer> {
    const data = await this.objects.get(this.key(key));
    if (!data) throw new StrataError(ErrorCode.NOT_FOUND, `artifact ${key} not found`, { key });
    return data;
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.head(this.key(key));
  }

  async delete(key: string): Promise<void> {
    await this.objects.delete(this.key(key));
  }
}
