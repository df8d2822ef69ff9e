/** Thin helpers over the S3 client for the stores: byte reads that treat 404 as absent, listing, prefixes. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { ErrorCode, StrataError } from '../shared/errors';

/** Where an S3-backed store lives. */
export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, e.g. `strata/`; normalized to end with one slash. */
  prefix?: string;
  region?: string;
  /** Custom endpoint (moto, minio); implies path-style addressing unless forcePathStyle says otherwise. */
  endpoint?: string;
  forcePathStyle?: boolean;
}

/** Builds an S3 client; credentials come from the SDK's default chain unless given in `extra`. */
export function createS3Client(
  loc: Omit<S3Location, 'bucket' | 'prefix'>,
  extra: Partial<S3ClientConfig> = {},
): S3Client {
  return new S3Client({
    region: loc.region ?? 'us-east-1',
    ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
    forcePathStyle: loc.forcePathStyle ?? Boolean(loc.endpoint),
    ...extra,
  });
}

/** `strata` → `strata/`, `` → ``, `/a//` → `a/`. */
export function normalizePrefix(prefix = ''): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed ? `${trimmed}/` : '';
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** True for "no such key" in any of the shapes S3 and its emulators report it. */
export function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(err) === 404 && name !== 'NoSuchBucket');
}

/** True when a conditional write lost (If-None-Match / If-Match). */
export function isPreconditionFailed(err: unknown): boolean {
  return (err as { name?: string }).name === 'PreconditionFailed' || statusOf(err) === 412;
}

/** Rewrites "bucket missing" into an error that says what to do. */
export function explain(err: unknown, bucket: string): unknown {
  if ((err as { name?: string }).name === 'NoSuchBucket') {
    return new StrataError(
      ErrorCode.UNAVAILABLE,
      `S3 bucket ${bucket} does not exist: create it or fix stateStore.bucket`,
      {
        bucket,
      },
    );
  }
  return err;
}

/** Object operations bound to one bucket. */
export class S3Objects {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw explain(err, this.bucket);
    }
  }

  /** The object's bytes and ETag (for a later conditional write), or undefined when absent. */
  async getWithEtag(key: string): Promise<{ data: Buffer; etag: string } | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { data: Buffer.from(await res.Body!.transformToByteArray()), etag: res.ETag ?? '' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw explain(err, this.bucket);
    }
  }

  /**
   * Writes an object; `ifNoneMatch` only if it does not exist, `ifMatch` only if its ETag is still that one
   * (S3 conditional writes). A lost condition throws PreconditionFailed (see isPreconditionFailed).
   */
  async put(key: string, body: Buffer | string, opts: { ifNoneMatch?: boolean; ifMatch?: string } = {}): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(opts.ifMatch ? { IfMatch: opts.ifMatch } : {}),
        }),
      );
    } catch (err) {
      throw explain(err, this.bucket);
    }
  }

  async head(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw explain(err, this.bucket);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw explain(err, this.bucket);
    }
  }

  /** Every key under a prefix, following continuation tokens. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (err) {
        throw explain(err, this.bucket);
      }
      for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
}
