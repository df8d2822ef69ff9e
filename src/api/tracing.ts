/**
 * A server span per HTTP request, active while the route runs, so the Temporal client interceptor's start,
 * signal and update spans (and through Temporal headers the workflow and its activities) join the request's
 * trace. An incoming `traceparent` is continued. Without a registered tracer provider the spans are no-ops.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';

export function httpTracing(): RequestHandler {
  const tracer = trace.getTracer('strata-api');
  return (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(
      `${req.method} ${req.path}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } },
      parent,
    );
    res.on('finish', () => {
      // The route template (`/api/v1/deployments/:id`) names the span once express has matched it.
      if (req.route?.path) span.updateName(`${req.method} ${req.baseUrl}${req.route.path}`);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}
