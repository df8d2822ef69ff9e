/** The API process: listens, and on SIGINT/SIGTERM stops accepting, drains, and closes the Temporal connection. */
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { startTracing } from '../shared/telemetry';
import { dataConverterFor } from '../client';
import { loadConfig } from '../shared/config';
import { createLogger } from '../shared/logger';
import { createApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('api');
  // Connection.lazy: the API starts (and /ready answers 503) even while Temporal is still coming up.
  const connection = Connection.lazy({ address: config.temporal.address });
  // With tracing on, each start, signal, update and query joins the HTTP request's trace (src/api/tracing.ts).
  const tracing = startTracing(config, 'api');
  const interceptors = tracing ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config),
    interceptors,
  });
  const app = createApp({ temporal: { client }, config, logger: log });
  const server = app.listen(config.api.port, config.api.host, () => {
    log.info({ url: `http://${config.api.host}:${config.api.port}` }, 'API listening');
  });
  const stop = (signal: string) => {
    log.info({ signal }, 'API stopping');
    server.close(() => {
      void Promise.allSettled([connection.close(), tracing?.shutdown()]).finally(() => process.exit(0));
    });
    // Live log streams keep connections open: don't let them hold shutdown hostage.
    setTimeout(() => process.exit(0), 5000).unref();
    server.closeAllConnections?.();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
