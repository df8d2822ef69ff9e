/** Builds the express app from injected dependencies; server.ts listens. Tests drive it with supertest. */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { codecFor, createGateway, type AesGcmCodec } from '../client';
import { codecRouter } from './codec/routes';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { StrataConfig } from '../shared/config';
import { ErrorCode } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { createStores } from '../store';
import { createFsRunLog, type RunLog } from '../store/run-log';
import type { ArtifactStore } from '../store/artifact-store';
import type { StateStore } from '../store/state-store';
import { authenticate, configAuthenticator, type Authenticator } from './auth';
import { rateLimit, securityHeaders } from './rate-limit';
import { deploymentsRouter } from './deployments/routes';
import { configSigner, RunService } from './deployments/run-service';
import { loadSignerKeys } from '../shared/decision-signing';
import { FailoverService } from './failovers/failover-service';
import { failoverGroupsRouter, failoversRouter } from './failovers/routes';
import { healthRouter } from './health/routes';
import { RolloutService } from './rollouts/rollout-service';
import { rolloutsRouter } from './rollouts/routes';
import { registerRunGauges } from './metrics/gauges';
import { MetricsRegistry } from './metrics/registry';
import { errorHandler, HttpError, methodNotAllowed } from './http-errors';
import { openApiDocument, openApiPathOf, RouteRegistry } from './routes';
import { ReleaseService } from './releases/release-service';
import { releasesRouter } from './releases/routes';
import { slackRouter } from './slack/routes';
import { stacksRouter } from './stacks/routes';
import { httpTracing } from './tracing';
import { webRouter } from './web/routes';
import { bearerOrStreamGrant, streamGrantKey, webApiRouters } from './web/stream-token';

export interface AppDeps {
  temporal: { client: Client };
  config: StrataConfig;
  auth?: Authenticator;
  state?: StateStore;
  artifacts?: ArtifactStore;
  runLog?: RunLog;
  logger?: Logger;
  /** The payload codec the codec server uses (default: from config). */
  codec?: AesGcmCodec;
}

export function createApp(deps: AppDeps): Express {
  const { config } = deps;
  const { client } = deps.temporal;
  const log = deps.logger ?? createLogger('api');
  const stores = deps.state && deps.artifacts ? undefined : createStores(config.stateStore, config.artifactsDir);
  const state = deps.state ?? stores!.state;
  const artifacts = deps.artifacts ?? stores!.artifacts;
  const runLog = deps.runLog ?? createFsRunLog(config.artifactsDir);
  const auth = deps.auth ?? configAuthenticator(config);
  const gateway = createGateway(client, config.temporal);
  const sign = configSigner(config);
  const runs = new RunService(gateway.runs, config, runLog, sign);
  const registry = new RouteRegistry();
  const metrics = new MetricsRegistry();
  registerRunGauges(metrics, gateway, config.temporal.taskQueue);

  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders);
  app.use(httpTracing());
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && /^[\w.-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', req.id);
    const started = process.hrtime.bigint();
    (req as unknown as { log: Logger }).log = log.child({ reqId: req.id });
    res.on('finish', () => {
      // Requests refused before routing (401, a malformed body) still count against the route they were for.
      const documented = req.route?.path ? undefined : registry.match(req.path)[0];
      const route = req.route?.path
        ? `${req.baseUrl}${req.route.path}`
        : documented
          ? `${documented.mount}${documented.spec.path}`
          : req.baseUrl || 'unmatched';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      metrics.inc('strata_http_requests_total', 'HTTP requests served', labels);
      metrics.observe(
        'strata_http_request_duration_seconds',
        'HTTP request latency',
        { method: req.method, route },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      log.info(
        {
          reqId: req.id,
          method: req.method,
          url: req.originalUrl,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          subject: req.principal?.subject,
        },
        'request',
      );
    });
    next();
  });
  // Slack signs the raw body, so its route reads it before the JSON parser does; the codec server takes
  // larger bodies than the API's limit.
  app.use(slackRouter(config, runs));
  app.use(codecRouter(registry, { config, codec: deps.codec ?? codecFor(config), auth }).router);
  app.use(express.json({ limit: config.api.bodyLimit }));

  const health = healthRouter(registry, gateway);
  app.use(health.router);
  app.get('/metrics', async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await metrics.render());
  });
  app.get('/openapi.json', async (_req, res) => {
    res.json(await openApiDocument(registry, { title: 'Strata API', version: '1' }));
  });

  // Strata's own pages (their own CSP); their live log stream authenticates by a minted grant, not a URL token.
  app.use(webRouter(config));
  const streamKey = streamGrantKey(loadSignerKeys(config));
  app.use('/api/v1', bearerOrStreamGrant(authenticate(auth), streamKey), rateLimit(config.auth.rateLimitPerMinute));
  const failovers = new FailoverService(gateway.failovers, config, sign);
  for (const { mount, router } of [
    deploymentsRouter(registry, runs, config),
    stacksRouter(registry, { config, state, artifacts, runs, drift: gateway.drift }),
    failoversRouter(registry, failovers, Object.keys(config.failoverGroups)),
    failoverGroupsRouter(registry, failovers, Object.keys(config.failoverGroups)),
    releasesRouter(registry, new ReleaseService(gateway.releases, runs, config, state, sign)),
    rolloutsRouter(registry, new RolloutService(gateway.rollouts, config, sign)),
    ...webApiRouters(registry, runs, streamKey),
  ]) {
    app.use(mount, router);
  }

  app.use((req, _res, next) => {
    // A documented path asked with a method it does not take: 405 with the methods it does (RFC 9110 §15.5.6).
    const routes = registry.match(req.path);
    if (routes.length) {
      const allow = [...new Set(routes.map((r) => r.spec.method.toUpperCase()))];
      if (allow.includes('GET')) allow.push('HEAD');
      return next(methodNotAllowed(req.method, openApiPathOf(routes[0]), allow));
    }
    next(new HttpError(404, ErrorCode.NOT_FOUND, `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler);
  return app;
}
