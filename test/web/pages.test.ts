/**
 * Strata's own pages in a real browser (Debian chromium through playwright-core) against a real API, worker and
 * Temporal dev server: sign in, start a prod deployment, approve it as two other people through the page, watch
 * the live log to the end; four-eyes refusals on screen in the API's words; the failover timeline. Screenshots of
 * the run and failover pages land in .data/screenshots/ (docs/screenshots/ with STRATA_UPDATE_SCREENSHOTS=1).
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createApp } from '../../src/api/app';
import { PAGE_CSP } from '../../src/api/web/routes';
import { TOKENS, type User } from '../helpers/api-client';
import { launchBrowser } from '../helpers/browser';
import { eventually, testConfig, useStrata } from '../helpers/temporal';

// Fresh screenshots go to .data/screenshots (ignored) so a test run leaves the checkout clean;
// STRATA_UPDATE_SCREENSHOTS=1 refreshes the committed ones in docs/screenshots.
const SHOTS = path.resolve(
  __dirname,
  '..',
  '..',
  process.env.STRATA_UPDATE_SCREENSHOTS ? 'docs/screenshots' : '.data/screenshots',
);

const base = testConfig({
  failoverGroups: {
    web: {
      provider: 'simulated',
      primary: { region: 'us-east-1', capacity: 3 },
      secondary: { region: 'us-west-2' },
      approval: { required: 1 },
    },
  },
});
// Alice may approve too, so the only rule that can refuse her own approval is four-eyes.
const config = {
  ...base,
  auth: {
    ...base.auth,
    tokens: base.auth.tokens.map((t) =>
      t.subject === 'alice' ? { ...t, roles: [...t.roles, 'approver' as const] } : t,
    ),
  },
};

describe('web pages in chromium', () => {
  const s = useStrata(config);
  let server: Server;
  let url: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const offOrigin: string[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
    server = createApp({ temporal: { client: s.env.client }, config }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fs.mkdirSync(SHOTS, { recursive: true });
  }, 600_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  /** A fresh tab (its own sessionStorage) signed in as `user`, on `next`. */
  async function signedIn(user: User, next = '/'): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('request', (r) => {
      if (!r.url().startsWith(url) && !r.url().startsWith('data:')) offOrigin.push(r.url());
    });
    await page.goto(`${url}/signin?next=${encodeURIComponent(next)}`);
    await page.fill('#token', TOKENS[user]);
    await page.click('#signin-submit');
    await page.waitForURL((u) => u.pathname === next.split('?')[0]);
    await page.waitForSelector(`#whoami:text("${user}")`);
    return page;
  }

  /** Resolves when the run page has fetched its run once more (it refreshes every 1.5 s). */
  const refreshed = (page: Page, id: string) =>
    page.waitForResponse(
      (r) => new URL(r.url()).pathname === `/api/v1/deployments/${id}` && r.request().method() === 'GET',
    );

  const statusOf = (page: Page, sel: string) =>
    page.getAttribute(sel, 'data-status', { timeout: 2000 }).catch(() => null);

  it('alice deploys to prod, bob and carol approve through the page, the live log runs to succeeded', async () => {
    const alice = await signedIn('alice');
    await alice.selectOption('#new-stack', 'sim-multicloud');
    await alice.selectOption('#new-environment', 'prod');
    await alice.fill('#new-variables', '{"instance_count": 3}');
    await alice.click('#new-submit');
    await alice.waitForURL(/\/runs\/d-/);
    const id = new URL(alice.url()).pathname.split('/').pop()!;

    await eventually(
      async () => (await statusOf(alice, '#run-status')) === 'awaiting_approval',
      'the run page to show awaiting_approval',
    );
    // The plan, grouped by action, with its risk; the log is already streaming.
    expect(await alice.textContent('#plan-risk')).toMatch(/(low|medium|high) risk/);
    expect(await alice.locator('.plan-group[data-action="create"] tbody tr').count()).toBeGreaterThan(0);
    expect(await alice.getAttribute('a.temporal', 'href')).toBe(
      `http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(`strata-run/${id}`)}`,
    );

    for (const approver of ['bob', 'carol'] as const) {
      const page = await signedIn(approver, `/runs/${id}`);
      await page.waitForSelector('#approve:not([disabled])');
      await page.fill('#decision-comment', `lgtm from ${approver}`);
      // The page refreshes itself while the approver types: a refresh keeps the text and the caret where they are.
      await refreshed(page, id);
      await refreshed(page, id);
      expect(
        await page.evaluate(() => [document.activeElement?.id, (document.activeElement as HTMLInputElement).value]),
      ).toEqual(['decision-comment', `lgtm from ${approver}`]);
      await page.click('#approve');
      await page.waitForSelector(`#action-result:text("Approved by ${approver}")`);
      await page.waitForSelector(`#approvals-table tr[data-by="${approver}"]`);
    }

    // Alice's tab follows on its own: status, approvals with who/when/via, and the log stream to its end.
    await eventually(
      async () => (await statusOf(alice, '#run-status')) === 'succeeded',
      'the run page to show succeeded',
      90_000,
    );
    await alice.waitForSelector('#log-state[data-state="ended"]', { timeout: 30_000 });
    const log = await alice.textContent('#log');
    expect(log).toMatch(/waiting for 2 approval/);
    expect(log).toMatch(/approved by bob \(1\/2\)[\s\S]*approved by carol \(2\/2\)/);
    expect(log).toMatch(/status → succeeded/);
    const cells = await alice
      .locator('#approvals-table tbody tr')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent)));
    expect(await alice.textContent('#apply-count')).toMatch(/ (\d+) of \1 resources applied/);
    await alice.screenshot({ path: path.join(SHOTS, 'run.png'), fullPage: true });

    const run = await s.http.run(id);
    expect(run.status).toBe('succeeded');
    // Who, when and via, as the run records them.
    expect(cells.map((c) => [c[0], c[2]])).toEqual(
      run.approvals.map((a) => [a.by, a.via + (a.transport ? ` (${a.transport})` : '')]),
    );
    expect(cells.map((c) => c[1])).toEqual(run.approvals.map((a) => a.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')));
    expect(run.approvals.map((a) => a.by).sort()).toEqual(['bob', 'carol']);
    expect(run.approvals.map((a) => a.comment).sort()).toEqual(['lgtm from bob', 'lgtm from carol']);

    // The stack page: current version, history, no lock left behind.
    await alice.goto(`${url}/stacks/sim-multicloud`);
    await alice.waitForSelector('#env-prod tr[data-version]');
    expect(await alice.textContent('#env-prod .lock')).toMatch(/Unlocked/);

    // The runs list, filtered in the page (and in its URL).
    await alice.goto(`${url}/`);
    await alice.selectOption('#f-environment', 'prod');
    await alice.selectOption('#f-status', 'succeeded');
    await alice.waitForURL((u) => u.search === '?environment=prod&status=succeeded');
    await eventually(
      async () => (await alice.locator(`#runs-table tr[data-id="${id}"]`).count()) === 1,
      'the run in the list',
    );
    for (const st of await alice.locator('#runs-table tbody .badge').allTextContents()) expect(st).toBe('succeeded');
  });

  it('rolls back from the stack page: the history button starts a rollback run that re-applies the version', async () => {
    const v1 = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(v1, ['succeeded']);
    const v2 = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 2 },
    });
    await s.http.waitFor(v2, ['succeeded']);
    const alice = await signedIn('alice', '/stacks/sim-multicloud');
    const row = alice.locator('#env-dev tr[data-version]').filter({ hasText: v1 });
    const version = await row.getAttribute('data-version');
    await row.locator('button.rollback').click();
    await alice.waitForURL(/\/runs\/r-/);
    await eventually(
      async () => (await statusOf(alice, '#run-status')) === 'succeeded',
      'the rollback run to succeed',
      60_000,
    );
    const run = await s.http.run(new URL(alice.url()).pathname.split('/').pop()!);
    expect(run).toMatchObject({ kind: 'rollback', targetVersion: Number(version), requestedBy: 'alice' });
  });

  it("refuses alice's approval of her own prod run on screen, in the API's words (four-eyes)", async () => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 2 },
    });
    await s.http.waitFor(id, ['awaiting_approval']);
    const alice = await signedIn('alice', `/runs/${id}`);
    await alice.waitForSelector('#four-eyes-hint');
    await alice.click('#approve');
    const alert = await alice.waitForSelector('#action-result[role="alert"]');
    const shown = (await alert.textContent())!.trim();
    // The same refusal straight from the API.
    const direct = await s.http.post('alice', `/api/v1/deployments/${id}/approve`, {});
    expect(direct.status).toBe(403);
    expect(shown).toBe(direct.body.error.message);
    expect(shown).toMatch(/four-eyes|requester|own/i);
    expect((await s.http.run(id)).approvals).toEqual([]);

    // Its stack page shows the lock held by this run and the next one queued behind it.
    const next = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 4 },
    });
    await s.http.waitFor(next, ['queued']);
    await alice.goto(`${url}/stacks/sim-multicloud`);
    await alice.waitForSelector(`#env-prod .lock-holder:text("${id}")`);
    await alice.waitForSelector(`#env-prod .lock a[href="/runs/${next}"]`);
    await alice.screenshot({ path: path.join(SHOTS, 'stack.png'), fullPage: true });

    // Cancel from the run page; the queued run gets the lock next.
    await alice.goto(`${url}/runs/${id}`);
    await alice.click('#cancel');
    await eventually(
      async () => (await statusOf(alice, '#run-status')) === 'cancelled',
      'the run page to show cancelled',
    );
    await s.http.waitFor(next, ['awaiting_approval']);
    await s.http.post('alice', `/api/v1/deployments/${next}/cancel`);
    await s.http.waitFor(next, ['cancelled']);
  });

  it('shows a failover as six stages with durations, RTO and RPO', async () => {
    const started = await s.http.post('alice', '/api/v1/failovers', {
      group: 'web',
      mode: 'planned',
      reason: 'drill from the page test',
    });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const bob = await signedIn('bob', `/failovers/${id}`);
    await eventually(
      async () => (await statusOf(bob, '#failover-status')) === 'awaiting_approval',
      'the failover to await approval',
    );
    await bob.click('#approve');
    await eventually(
      async () => (await statusOf(bob, '#failover-status')) === 'succeeded',
      'the failover page to show succeeded',
      90_000,
    );
    const stages = bob.locator('#stages > li');
    expect(await stages.count()).toBe(6);
    for (const st of await stages.all()) {
      expect(await st.getAttribute('data-status')).toBe('succeeded');
      expect(await st.locator('.stage-dur').textContent()).toMatch(/\d+(\.\d+)? (ms|s)|\dm/);
    }
    expect(await bob.textContent('#rto')).toMatch(/^\d+\.\d+ s$/);
    expect(await bob.textContent('#rpo')).toMatch(/\d|—/);
    expect(await bob.getAttribute('a.temporal', 'href')).toContain(encodeURIComponent(`strata-failover/web/${id}`));
    await bob.screenshot({ path: path.join(SHOTS, 'failover.png'), fullPage: true });
  });

  it('serves the pages with their own CSP, and the browser fetched nothing from another origin', async () => {
    const res = await fetch(`${url}/runs/x`);
    expect(res.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(PAGE_CSP).not.toMatch(/unsafe|https?:/);
    const api = await fetch(`${url}/api/v1/stacks`, { headers: { Authorization: `Bearer ${TOKENS.alice}` } });
    expect(api.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(offOrigin).toEqual([]);
  });
});
