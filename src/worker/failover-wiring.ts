/** Failover activities, wired from the config's failover groups. */
import type { Client } from '@temporalio/client';
import type { StrataConfig } from '../shared/config';

// Filled in when the failover activities land (issue 6).
export function buildFailoverActivities(_config: StrataConfig, _client: Client, _taskQueue: string): Record<string, (...args: never[]) => unknown> {
  return {};
}
