/** Names shared by the API, the worker and the workflows. Wire names never change once shipped. */

export const DEFAULT_TASK_QUEUE = 'strata';
export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

/** Custom search attributes Strata registers on the Temporal server (all Keyword). */
export const SEARCH_ATTRIBUTES = {
  stack: 'StrataStack',
  environment: 'StrataEnvironment',
  status: 'StrataStatus',
  kind: 'StrataKind',
  requestedBy: 'StrataRequestedBy',
  failoverGroup: 'StrataFailoverGroup',
} as const;
