/** Builds the artifact and state stores from strata.yaml's `stateStore` section. */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { StateStoreConfig } from '../shared/config';
import type { ArtifactStore } from './artifact-store';
import { FsArtifactStore } from './fs-artifact-store';
import { FsStateStore } from './fs-state-store';
import { S3ArtifactStore } from './s3-artifact-store';
import { S3StateStore } from './s3-state-store';
import { createS3Client } from './s3-util';
import type { StateStore } from './state-store';

export type { ArtifactStore } from './artifact-store';
export type {
  ApplyLease,
  CurrentState,
  ExpectedState,
  NewStateVersion,
  StateStore,
  StateStoreConnection,
  StateVersion,
  StateVersionKind,
} from './state-store';
export { expectedOf } from './state-cas';
export { FsArtifactStore } from './fs-artifact-store';
export { FsStateStore, type StateStoreOptions } from './fs-state-store';
export { S3ArtifactStore } from './s3-artifact-store';
export { S3StateStore } from './s3-state-store';
export { createS3Client, type S3Location } from './s3-util';

/** The pair of stores every activity gets. */
export interface Stores {
  artifacts: ArtifactStore;
  state: StateStore;
}

/** Extra wiring the config file does not carry (tests pass static credentials, a clock). */
export interface CreateStoresOptions {
  s3?: Partial<S3ClientConfig>;
  now?: () => Date;
}

/**
 * Filesystem: state under `stateStore.path`, artifacts under `artifactsDir`.
 * S3: both in `stateStore.bucket`, state under `<prefix>state/` and artifacts under `<prefix>artifacts/`
 * (`artifactsDir` is ignored, since workers on different machines must share artifacts). A custom endpoint
 * (moto, minio) switches to path-style addressing.
 */
export function createStores(cfg: StateStoreConfig, artifactsDir: string, opts: CreateStoresOptions = {}): Stores {
  if (cfg.kind === 'filesystem') {
    return {
      artifacts: new FsArtifactStore(artifactsDir),
      state: new FsStateStore(cfg.path, { retainVersions: cfg.retainVersions, now: opts.now }),
    };
  }
  const client = createS3Client({ region: cfg.region, endpoint: cfg.endpoint }, opts.s3);
  return {
    artifacts: new S3ArtifactStore(client, { bucket: cfg.bucket, prefix: cfg.prefix }),
    state: new S3StateStore(client, {
      bucket: cfg.bucket,
      prefix: cfg.prefix,
      region: cfg.region,
      endpoint: cfg.endpoint,
      retainVersions: cfg.retainVersions,
      now: opts.now,
    }),
  };
}

export { openStateStore } from './open-state-store';
