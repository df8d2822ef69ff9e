/**
 * Strata's own pages, served by the API process and working offline: the server renders each page's frame
 * (navigation, headings, where the Temporal Web UI is), and one small vanilla script fills it from the same
 * /api/v1 routes every client uses, with the bearer token the person signed in with (kept in sessionStorage).
 * Nothing is loaded from anywhere but this origin; the pages carry their own Content-Security-Policy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import { DEPLOYMENT_STATUSES } from '../../contracts/runs';
import { FAILOVER_STAGES } from '../../contracts/failover';
import type { StrataConfig } from '../../shared/config';

/** Scripts, styles and fetches from this origin only; no inline script, no framing, forms post here only. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const ASSETS = path.join(__dirname, 'assets');
const ASSET_TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Where links to workflows point: `temporal.uiUrl`, else the dev server's UI beside the configured address. */
export function temporalUiBase(config: Pick<StrataConfig, 'temporal'>): string {
  const t = config.temporal;
  if (t.uiUrl) return t.uiUrl.replace(/\/$/, '');
  const host = t.address.replace(/:\d+$/, '') || '127.0.0.1';
  return `http://${host}:${t.uiPort}`;
}

interface PageSpec {
  page: string;
  title: string;
  data?: Record<string, string>;
}

function shell(config: StrataConfig, spec: PageSpec, assetVersion: string): string {
  const data: Record<string, string> = {
    page: spec.page,
    temporalUi: temporalUiBase(config),
    namespace: config.temporal.namespace,
    statuses: DEPLOYMENT_STATUSES.join(','),
    stages: FAILOVER_STAGES.join(','),
    ...spec.data,
  };
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}="${esc(v)}"`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(spec.title)} · Strata</title>
<link rel="stylesheet" href="/ui/app.css?v=${assetVersion}">
<link rel="icon" href="data:,">
<script src="/ui/app.js?v=${assetVersion}" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">Strata</a>
  <nav><a href="/">Runs</a><a href="/stacks">Stacks</a><a href="/failovers">Failovers</a></nav>
  <span class="who" id="who"></span>
</header>
<main id="app"${attrs}>
  <h1 id="title">${esc(spec.title)}</h1>
  <noscript>These pages need JavaScript; the same data is at /api/v1 (see /openapi.json).</noscript>
</main>
</body>
</html>
`;
}

/** The pages and their two assets. */
export function webRouter(config: StrataConfig): Router {
  const router = Router();
  const assets = new Map<string, Buffer>();
  for (const name of Object.keys(ASSET_TYPES)) assets.set(name, fs.readFileSync(path.join(ASSETS, name)));
  // Cache-busting by content: a new build of the script is fetched at once, an unchanged one stays cached.
  const version = String([...assets.values()].reduce((h, b) => (h * 31 + b.length + b[b.length >> 1]) % 1e9, 7));

  const csp: RequestHandler = (_req, res, next) => {
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
  const page =
    (spec: (params: Record<string, string>) => PageSpec): RequestHandler =>
    (req, res) => {
      res.type('html').send(shell(config, spec(req.params as Record<string, string>), version));
    };
  const id = (p: Record<string, string>) => (/^[A-Za-z0-9._-]{1,150}$/.test(p.id) ? p.id : '');

  router.get(
    '/',
    csp,
    page(() => ({ page: 'runs', title: 'Runs' })),
  );
  router.get(
    '/signin',
    csp,
    page(() => ({ page: 'signin', title: 'Sign in' })),
  );
  router.get(
    '/runs/:id',
    csp,
    page((p) => ({ page: 'run', title: `Run ${id(p)}`, data: { id: id(p) } })),
  );
  router.get(
    '/stacks',
    csp,
    page(() => ({ page: 'stacks', title: 'Stacks' })),
  );
  router.get(
    '/stacks/:stack',
    csp,
    page((p) => ({ page: 'stack', title: `Stack ${p.stack}`, data: { stack: p.stack } })),
  );
  router.get(
    '/failovers',
    csp,
    page(() => ({ page: 'failovers', title: 'Failovers' })),
  );
  router.get(
    '/failovers/:id',
    csp,
    page((p) => ({ page: 'failover', title: `Failover ${id(p)}`, data: { id: id(p) } })),
  );
  router.get('/ui/:asset', (req, res, next) => {
    const body = assets.get(req.params.asset);
    if (!body) return next();
    res.setHeader('Content-Type', ASSET_TYPES[req.params.asset]);
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.send(body);
  });
  return router;
}
