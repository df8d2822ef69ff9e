/**
 * Temporal's time-skipping test server for fast saga tests: the binary comes from the user cache
 * (temporal/get-test-server.sh via tools.env; the SDK's own download cannot work here). While a test awaits a
 * workflow's result the server jumps over timers, so a 72 h approval expiry takes milliseconds.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../src/shared/search-attributes';
import { toolPath } from './tools';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (every Strata attribute is a keyword). */
const INDEXED_KEYWORD = 2;

let runtimeInstalled = false;

/** Starts a private time-skipping test server on a free port, with Strata's search attributes registered. */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      Runtime.install({
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
        logger: new DefaultLogger('ERROR'),
      });
    } catch {
      // Already installed by another helper in this file: keep it.
    }
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: toolPath('TEMPORAL_TEST_SERVER') } },
  });
  // The test server has no start-up flag for them, and a workflow upserting an unknown one fails its task.
  const searchAttributes: Record<string, number> = {};
  for (const key of ALL_SEARCH_ATTRIBUTE_KEYS) {
    if (key.type !== 'KEYWORD') throw new Error(`search attribute ${key.name}: only keywords are mapped here`);
    searchAttributes[key.name] = INDEXED_KEYWORD;
  }
  await env.connection.operatorService.addSearchAttributes({ namespace: env.namespace ?? 'default', searchAttributes });
  return env;
}
