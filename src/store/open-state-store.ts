/**
 * Opens the state store another process described with StateStore.connection() (credentials: the environment).
 * The apply watchdog calls it at every apply, so each kind's code is loaded only when that kind is asked for:
 * a filesystem store never loads the S3 SDK.
 */
import type * as FsStore from './fs-state-store';
import type { CreateStoresOptions } from './index';
import type * as S3Store from './s3-state-store';
import type * as S3Util from './s3-util';
import type { StateStore, StateStoreConnection } from './state-store';

/** The store `conn` names, with that kind's modules loaded on first use. */
export function openStateStore(conn: StateStoreConnection, opts: CreateStoresOptions = {}): StateStore {
  /* eslint-disable @typescript-eslint/no-require-imports -- each kind's modules load on demand, see above */
  if (conn.kind === 'filesystem') {
    const { FsStateStore } = require('./fs-state-store') as typeof FsStore;
    return new FsStateStore(conn.path, { retainVersions: conn.retainVersions, now: opts.now });
  }
  const { createS3Client } = require('./s3-util') as typeof S3Util;
  const { S3StateStore } = require('./s3-state-store') as typeof S3Store;
  const client = createS3Client(
    { region: conn.region, endpoint: conn.endpoint, forcePathStyle: conn.forcePathStyle },
    opts.s3,
  );
  /* eslint-enable @typescript-eslint/no-require-imports */
  return new S3StateStore(client, { ...conn, now: opts.now });
}
