/** Blob storage for run artifacts (config snapshots, saved plans) so any worker can run any step. */
export interface ArtifactStore {
  put(key: string, data: Buffer | string): Promise<void>;
  /** Throws NOT_FOUND (StrataError) when the key is absent. */
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}
