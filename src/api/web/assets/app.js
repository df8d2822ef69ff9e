/*
 * Strata's pages in one small script: it fills the frame the server rendered from /api/v1, with the bearer token
 * the person signed in with (sessionStorage: gone when the tab closes, never in a URL). No framework, no build,
 * nothing from another origin. DOM is built with createElement/textContent only, so API data is never parsed as HTML.
 */
/* global document, window, sessionStorage, fetch, EventSource, URLSearchParams, location, history, setTimeout */
'use strict';
(function () {
  const root = document.getElementById('app');
  const ds = root.dataset;
  const TOKEN_KEY = 'strata.token';
  /** A tool log line saying one resource is done (OpenTofu's wording, which the simulated cloud follows). */
  const RESOURCE_DONE = /(Creation|Modifications|Replacement|Destruction) complete/;
  const TERMINAL = ['succeeded', 'no_changes', 'planned', 'failed', 'rolled_back', 'rejected', 'expired', 'cancelled'];
  const STATUSES = ds.statuses.split(',');
  const STAGES = ds.stages.split(',');
  const ACTION_GROUPS = [
    ['create', 'Create'],
    ['update', 'Update in place'],
    ['replace', 'Replace'],
    ['delete', 'Delete'],
  ];
  let me = null;

  // ---- small helpers -------------------------------------------------------------------------------------------

  /** h('a', {href: '/x', class: 'y'}, 'text', child): an element; null/false children are skipped. */
  function h(tag, attrs) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of Array.prototype.slice.call(arguments, 2).flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof window.Node ? c : String(c));
    }
    return el;
  }
  const $ = (sel) => document.querySelector(sel);
  const replace = (el, ...children) => {
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
    return el;
  };
  const section = (id, title, ...children) => h('section', { id, class: 'card' }, h('h2', null, title), ...children);

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return d
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC');
  }
  function fmtDuration(ms) {
    if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}m ${s % 60}s`;
  }
  const badge = (status, id) =>
    h('span', { class: `badge st-${status}`, id, 'data-status': status }, status.replace(/_/g, ' '));
  const temporalLink = (workflowId) =>
    h(
      'a',
      {
        class: 'temporal',
        href: `${ds.temporalUi}/namespaces/${encodeURIComponent(ds.namespace)}/workflows/${encodeURIComponent(workflowId)}`,
        target: '_blank',
        rel: 'noopener',
      },
      'Open in Temporal Web UI ↗',
    );
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  function hasRole(role, env) {
    if (!me) return false;
    const roles = me.roles.concat((env && me.environmentRoles[env]) || []);
    return roles.includes('admin') || roles.includes(role);
  }

  /** fetch with the signed-in token; errors carry the API's own message (`error.message`) and code. */
  async function api(path, opts) {
    opts = opts || {};
    const headers = { Authorization: `Bearer ${token()}`, Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method: opts.method || 'GET',
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null; // an empty or non-JSON body: the status says enough
    }
    if (res.status === 401 && !opts.quiet401) {
      sessionStorage.removeItem(TOKEN_KEY);
      location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    if (!res.ok) {
      const err = new Error((body && body.error && body.error.message) || `HTTP ${res.status}`);
      err.status = res.status;
      err.code = body && body.error && body.error.code;
      throw err;
    }
    return body;
  }

  /** Shows what happened in the page's notice area: the API's words for a refusal, verbatim. */
  function notice(el, kind, text) {
    replace(el, text);
    el.className = `notice ${kind}`;
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }

  /** Re-runs `fn` every `ms` until it returns true (done); a failed refresh is shown and retried. */
  function poll(fn, ms, errorEl) {
    const tick = async () => {
      let done = false;
      try {
        done = await fn();
        if (errorEl && errorEl.dataset.pollError) {
          errorEl.dataset.pollError = '';
          replace(errorEl);
          errorEl.className = '';
        }
      } catch (err) {
        if (errorEl) {
          errorEl.dataset.pollError = '1';
          notice(errorEl, 'error', `refresh failed: ${err.message}`);
        }
      }
      if (!done) setTimeout(tick, ms);
    };
    return tick();
  }

  async function post(path, body, resultEl, okText) {
    try {
      const r = await api(path, { method: 'POST', body: body || {} });
      if (resultEl) notice(resultEl, 'ok', okText);
      return r;
    } catch (err) {
      if (resultEl) notice(resultEl, 'error', err.message);
      return undefined;
    }
  }

  function table(headers, rows, attrs) {
    return h(
      'table',
      attrs,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          headers.map((x) => h('th', null, x)),
        ),
      ),
      h('tbody', null, rows),
    );
  }

  // ---- sign in -------------------------------------------------------------------------------------------------

  function signinPage() {
    const err = h('p', { id: 'signin-error' });
    const input = h('input', {
      id: 'token',
      name: 'token',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
      size: 40,
    });
    const form = h(
      'form',
      {
        id: 'signin',
        class: 'card',
        onsubmit: async (e) => {
          e.preventDefault();
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          try {
            await api('/api/v1/session', { quiet401: true });
            const next = new URLSearchParams(location.search).get('next');
            location.assign(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
          } catch (x) {
            sessionStorage.removeItem(TOKEN_KEY);
            notice(err, 'error', x.message);
          }
        },
      },
      h('label', { for: 'token' }, 'Bearer token'),
      input,
      h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in'),
      err,
      h('p', { class: 'hint' }, 'The token stays in this tab (sessionStorage) and is sent only to this API.'),
    );
    root.append(form);
  }

  // ---- runs ----------------------------------------------------------------------------------------------------

  async function runsPage() {
    const params = new URLSearchParams(location.search);
    const stacks = (await api('/api/v1/stacks')).items;
    const envs = [...new Set(stacks.flatMap((s) => s.environments.map((e) => e.name)))];
    const select = (id, label, values) =>
      h(
        'label',
        null,
        label,
        h(
          'select',
          { id, name: id.replace('f-', '') },
          h('option', { value: '' }, 'any'),
          values.map((v) => h('option', { value: v, selected: params.get(id.replace('f-', '')) === v }, v)),
        ),
      );
    const filters = h(
      'form',
      { id: 'filters', class: 'filters' },
      select(
        'f-stack',
        'Stack',
        stacks.map((s) => s.name),
      ),
      select('f-environment', 'Environment', envs),
      select('f-status', 'Status', STATUSES),
      select('f-kind', 'Kind', ['deploy', 'rollback', 'destroy']),
    );
    const result = h('div', { id: 'start-result' });
    const stackSel = h(
      'select',
      { id: 'new-stack' },
      stacks.map((s) => h('option', { value: s.name }, s.name)),
    );
    const envSel = h(
      'select',
      { id: 'new-environment' },
      envs.map((e) => h('option', { value: e }, e)),
    );
    const vars = h('textarea', { id: 'new-variables', rows: 2, cols: 40, placeholder: '{"instance_count": 3}' });
    const dry = h('input', { id: 'new-dry-run', type: 'checkbox' });
    const startForm = h(
      'form',
      {
        id: 'new-run',
        class: 'card',
        onsubmit: async (e) => {
          e.preventDefault();
          let variables;
          try {
            variables = vars.value.trim() ? JSON.parse(vars.value) : undefined;
          } catch (x) {
            return notice(result, 'error', `variables are not JSON: ${x.message}`);
          }
          const r = await post(
            '/api/v1/deployments',
            { stack: stackSel.value, environment: envSel.value, variables, dryRun: dry.checked || undefined },
            result,
            'started',
          );
          if (r) location.assign(`/runs/${r.id}`);
        },
      },
      h('h2', null, 'New deployment'),
      h('label', null, 'Stack', stackSel),
      h('label', null, 'Environment', envSel),
      h('label', null, 'Variables (JSON)', vars),
      h('label', { class: 'inline' }, dry, 'Dry run'),
      h('button', { type: 'submit', id: 'new-submit', disabled: !hasRole('deployer') }, 'Plan and deploy'),
      result,
    );
    const body = h('tbody');
    const err = h('div', { id: 'refresh-error' });
    root.append(
      filters,
      section(
        'runs',
        'Runs',
        err,
        h(
          'table',
          { id: 'runs-table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['Run', 'Kind', 'Stack', 'Environment', 'Status', 'Plan', 'Requested by', 'Created'].map((x) =>
                h('th', null, x),
              ),
            ),
          ),
          body,
        ),
      ),
      startForm,
    );
    filters.addEventListener('change', () => {
      const q = new URLSearchParams();
      for (const el of filters.querySelectorAll('select')) if (el.value) q.set(el.name, el.value);
      history.replaceState(null, '', `/${q.toString() ? `?${q}` : ''}`);
      void refresh();
    });
    const refresh = async () => {
      const q = new URLSearchParams(location.search);
      q.set('limit', '50');
      const { items } = await api(`/api/v1/deployments?${q}`);
      replace(
        body,
        items.length
          ? items.map((d) =>
              h(
                'tr',
                { 'data-id': d.id },
                h('td', null, h('a', { href: `/runs/${d.id}` }, d.id)),
                h('td', null, d.kind),
                h('td', null, h('a', { href: `/stacks/${d.stack}` }, d.stack)),
                h('td', null, d.environment),
                h('td', null, badge(d.status)),
                h('td', { class: 'mono' }, d.plan ? `+${d.plan.add} ~${d.plan.change} -${d.plan.destroy}` : ''),
                h('td', null, d.requestedBy),
                h('td', null, fmtTime(d.createdAt)),
              ),
            )
          : h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No runs match.')),
      );
      return false;
    };
    await poll(refresh, 2000, err);
  }

  // ---- one run -------------------------------------------------------------------------------------------------

  function groupPlan(plan, resources) {
    const statusOf = new Map(resources.map((r) => [r.address, r.status]));
    const groups = ACTION_GROUPS.map(([action, label]) => {
      const rs = plan.resources.filter((r) =>
        action === 'update' ? r.action === 'update' || r.action === 'change' : r.action === action,
      );
      if (!rs.length) return null;
      return h(
        'div',
        { class: `plan-group act-${action}`, 'data-action': action },
        h('h3', null, `${label} (${rs.length})`),
        table(
          ['Address', 'Type', 'Status'],
          rs.map((r) =>
            h(
              'tr',
              null,
              h('td', { class: 'mono' }, r.address),
              h('td', null, r.type),
              h('td', null, statusOf.get(r.address) || 'planned'),
            ),
          ),
        ),
      );
    });
    const other = plan.resources.filter((r) => !['create', 'update', 'change', 'replace', 'delete'].includes(r.action));
    return groups.concat(other.length ? h('p', { class: 'hint' }, `${other.length} resource(s) unchanged`) : null);
  }

  function costAndPolicy(plan) {
    const out = [];
    if (plan.cost) {
      const c = plan.cost;
      const sign = c.monthlyDelta >= 0 ? '+' : '';
      out.push(
        h(
          'p',
          { id: 'plan-cost' },
          `Cost: ${c.monthlyBefore} → ${c.monthlyAfter} ${c.currency}/month (${sign}${c.monthlyDelta})`,
          c.unpriced && c.unpriced.length ? `; unpriced: ${c.unpriced.join(', ')}` : '',
        ),
      );
    }
    if (plan.policy && plan.policy.results && plan.policy.results.length) {
      out.push(
        h(
          'div',
          { id: 'plan-policy' },
          h('h3', null, 'Policy'),
          table(
            ['Level', 'Policy', 'Rule', 'Message'],
            plan.policy.results.map((r) =>
              h(
                'tr',
                { class: `policy-${r.level}` },
                h('td', null, r.level),
                h('td', null, r.policy),
                h('td', null, r.rule),
                h('td', null, r.message),
              ),
            ),
          ),
        ),
      );
    }
    return out;
  }

  function startLog(id, logEl, stateEl, isDone, onResourceDone) {
    let es = null;
    const open = async () => {
      try {
        const grant = await api(`/api/v1/deployments/${id}/stream-grant`, { method: 'POST', body: {} });
        es = new EventSource(grant.stream);
      } catch (err) {
        replace(stateEl, `log unavailable: ${err.message}`);
        return;
      }
      // The stream always starts at the beginning of the run's log; a reconnect redraws it whole.
      es.addEventListener('open', () => {
        replace(logEl);
        onResourceDone(null);
        replace(stateEl, 'live');
        stateEl.dataset.state = 'live';
      });
      es.addEventListener('message', (ev) => {
        const item = JSON.parse(ev.data);
        if (item.resource && RESOURCE_DONE.test(item.message)) onResourceDone(item.resource);
        logEl.append(
          h(
            'div',
            { class: `log-line lv-${item.level}` },
            h('span', { class: 'ts' }, item.ts.slice(11, 23)),
            ' ',
            item.resource ? h('span', { class: 'res' }, `[${item.resource}] `) : null,
            item.message,
          ),
        );
        logEl.scrollTop = logEl.scrollHeight;
      });
      es.addEventListener('end', () => {
        es.close();
        replace(stateEl, 'ended');
        stateEl.dataset.state = 'ended';
      });
      es.addEventListener('error', () => {
        // Closed for good (the grant expired before a reconnect, the API restarted): mint a new grant.
        if (es.readyState === EventSource.CLOSED && stateEl.dataset.state !== 'ended') {
          replace(stateEl, 'reconnecting…');
          setTimeout(() => {
            if (!isDone()) void open();
          }, 2000);
        }
      });
    };
    void open();
  }

  async function runPage() {
    const id = ds.id;
    const title = $('#title');
    const head = h('div', { id: 'run-head', class: 'card' });
    const actions = h('div', { id: 'actions', class: 'card' });
    const result = h('div', { id: 'action-result' });
    const approvals = section('approvals', 'Approvals');
    const planEl = section('plan', 'Plan');
    const progress = section('progress', 'Apply');
    const logEl = h('div', { id: 'log', class: 'log' });
    const logState = h('span', { id: 'log-state', class: 'hint' }, 'connecting…');
    const refreshErr = h('div', { id: 'refresh-error' });
    root.append(refreshErr, head, actions, planEl, approvals, progress, section('log-card', 'Log ', logState, logEl));
    const comment = h('input', { id: 'decision-comment', placeholder: 'comment or reason (optional)', size: 40 });
    const approveButton = h('button', { id: 'approve', class: 'primary', onclick: () => decide('approve') }, 'Approve');
    const rejectButton = h('button', { id: 'reject', class: 'danger', onclick: () => decide('reject') }, 'Reject');
    const decisionHints = h('div');
    const decision = h('div', { id: 'decision', hidden: true }, approveButton, rejectButton, comment, decisionHints);
    const noDecision = h('p', { class: 'hint', hidden: true });
    const cancelButton = h('button', { id: 'cancel', hidden: true, onclick: cancel }, 'Cancel run');
    actions.append(decision, noDecision, cancelButton, result);
    let d = null;
    let planExtras = null;
    let deciding = false;
    const done = new Set();

    const render = () => {
      replace(title, `${d.kind} ${d.stack} → ${d.environment}`, ' ', badge(d.status, 'run-status'));
      replace(
        head,
        h(
          'dl',
          { class: 'facts' },
          h('dt', null, 'Run'),
          h('dd', { class: 'mono' }, d.id),
          h('dt', null, 'Stack'),
          h('dd', null, h('a', { href: `/stacks/${d.stack}` }, d.stack)),
          h('dt', null, 'Requested by'),
          h('dd', { id: 'requested-by' }, d.requestedBy),
          h('dt', null, 'Created'),
          h('dd', null, fmtTime(d.createdAt)),
          d.queuePosition ? [h('dt', null, 'Queue'), h('dd', null, `position ${d.queuePosition}`)] : null,
          d.targetVersion ? [h('dt', null, 'Target version'), h('dd', null, String(d.targetVersion))] : null,
          d.stateVersion ? [h('dt', null, 'State version'), h('dd', null, String(d.stateVersion))] : null,
          d.error
            ? [h('dt', null, 'Error'), h('dd', { class: 'error-text' }, `${d.error.code}: ${d.error.message}`)]
            : null,
          d.rollback
            ? [
                h('dt', null, 'Automatic rollback'),
                h(
                  'dd',
                  null,
                  `${d.rollback.status}${d.rollback.toVersion ? ` to version ${d.rollback.toVersion}` : ''}`,
                ),
              ]
            : null,
        ),
        temporalLink(`strata-run/${d.id}`),
      );

      const waiting = d.status === 'awaiting_approval';
      const canApprove = hasRole('approver', d.environment);
      const mine = me && me.subject === d.requestedBy;
      const already = me && d.approvals.some((a) => a.by === me.subject);
      const canCancel = !TERMINAL.includes(d.status) && (mine || hasRole('admin', d.environment));
      // The controls are updated in place, never rebuilt: a refresh must not take the caret out of the comment a
      // reviewer is typing, nor swap a button out from under a click.
      decision.hidden = !waiting;
      approveButton.disabled = rejectButton.disabled = !canApprove || deciding;
      approveButton.title = canApprove ? '' : `${me.subject} is not an approver in ${d.environment}`;
      replace(
        decisionHints,
        !canApprove
          ? h('p', { class: 'hint' }, `You (${me.subject}) do not hold the approver role in ${d.environment}.`)
          : null,
        canApprove && mine
          ? h(
              'p',
              { class: 'hint', id: 'four-eyes-hint' },
              'You requested this run: where four-eyes applies, your approval will be refused.',
            )
          : null,
        already ? h('p', { class: 'hint' }, 'You have approved this plan.') : null,
      );
      noDecision.hidden = waiting;
      replace(
        noDecision,
        TERMINAL.includes(d.status)
          ? `This run has ended: ${d.status.replace(/_/g, ' ')}.`
          : `No decision pending (${d.status.replace(/_/g, ' ')}).`,
      );
      cancelButton.hidden = !canCancel;
      cancelButton.disabled = deciding;

      replace(
        approvals,
        h('h2', null, `Approvals ${d.approvals.length} of ${d.approvalsRequired}`),
        d.approvalExpiresAt && waiting ? h('p', { class: 'hint' }, `Expires ${fmtTime(d.approvalExpiresAt)}`) : null,
        d.approvals.length
          ? table(
              ['Who', 'When', 'Via', 'Comment'],
              d.approvals.map((a) =>
                h(
                  'tr',
                  { 'data-by': a.by },
                  h('td', null, a.by),
                  h('td', null, fmtTime(a.at)),
                  h('td', null, a.via + (a.transport ? ` (${a.transport})` : '')),
                  h('td', null, a.comment || ''),
                ),
              ),
              { id: 'approvals-table' },
            )
          : h(
              'p',
              { class: 'hint' },
              d.approvalsRequired ? 'No approvals yet.' : 'This environment needs no approval.',
            ),
        d.rejection
          ? h(
              'p',
              { id: 'rejection', class: 'error-text' },
              `Rejected by ${d.rejection.by} at ${fmtTime(d.rejection.at)}${d.rejection.via ? ` via ${d.rejection.via}` : ''}${d.rejection.reason ? `: ${d.rejection.reason}` : ''}`,
            )
          : null,
      );

      const plan = d.plan ? Object.assign({}, d.plan, planExtras || {}) : null;
      replace(
        planEl,
        h(
          'h2',
          null,
          'Plan ',
          plan ? h('span', { id: 'plan-risk', class: `risk risk-${plan.risk}` }, `${plan.risk} risk`) : null,
        ),
        plan
          ? [
              h(
                'p',
                { class: 'mono', id: 'plan-summary' },
                `+${plan.add} to add, ~${plan.change} to change, -${plan.destroy} to destroy · plan ${plan.planHash.slice(0, 12)}`,
              ),
              (plan.notes || []).map((n) => h('p', { class: 'hint' }, n)),
              costAndPolicy(plan),
              groupPlan(plan, d.resources),
            ]
          : h('p', { class: 'hint' }, 'No plan yet.'),
      );

      const planned =
        d.resources.filter((r) => r.action && !['no-op', 'read'].includes(r.action)).length ||
        (plan ? plan.add + plan.change + plan.destroy : 0);
      // The run marks resources applied when the apply ends; the live log says so resource by resource.
      const applied = Math.max(
        d.resources.filter((r) => r.status === 'applied' || r.status === 'deleted').length,
        done.size,
      );
      replace(
        progress,
        h('h2', null, 'Apply'),
        h('progress', { id: 'apply-progress', max: planned || 1, value: Math.min(applied, planned || 1) }),
        h('span', { id: 'apply-count' }, ` ${applied} of ${planned} resources applied`),
        d.applyStartedAt
          ? h(
              'p',
              { class: 'hint' },
              `Apply ${fmtTime(d.applyStartedAt)}${d.applyCompletedAt ? ` → ${fmtTime(d.applyCompletedAt)} (${fmtDuration(Date.parse(d.applyCompletedAt) - Date.parse(d.applyStartedAt))})` : ''}`,
            )
          : null,
      );
    };

    async function decide(what) {
      const body =
        what === 'approve'
          ? { planHash: d.plan && d.plan.planHash, comment: comment.value || undefined }
          : { reason: comment.value || undefined };
      deciding = true;
      render();
      const r = await post(
        `/api/v1/deployments/${d.id}/${what}`,
        body,
        result,
        what === 'approve' ? `Approved by ${me.subject}` : `Rejected by ${me.subject}`,
      );
      deciding = false;
      if (r) d = r;
      render();
    }
    async function cancel() {
      await post(`/api/v1/deployments/${d.id}/cancel`, {}, result, 'Cancellation requested');
    }

    await poll(
      async () => {
        d = await api(`/api/v1/deployments/${id}`);
        if (d.plan && !planExtras) planExtras = await api(`/api/v1/deployments/${id}/plan`).catch(() => null);
        render();
        if (!logEl.dataset.started) {
          logEl.dataset.started = '1';
          startLog(
            id,
            logEl,
            logState,
            () => TERMINAL.includes(d.status),
            (resource) => {
              // null: the stream restarted from the beginning.
              if (resource === null) done.clear();
              else done.add(resource);
              if (d) render();
            },
          );
        }
        return TERMINAL.includes(d.status);
      },
      1500,
      refreshErr,
    );
  }

  // ---- stacks --------------------------------------------------------------------------------------------------

  async function stacksPage() {
    const { items } = await api('/api/v1/stacks');
    root.append(
      section(
        'stacks',
        'Stacks',
        table(
          ['Stack', 'Executor', 'Environments', 'Description'],
          items.map((s) =>
            h(
              'tr',
              null,
              h('td', null, h('a', { href: `/stacks/${s.name}` }, s.name)),
              h('td', null, s.executor),
              h(
                'td',
                null,
                s.environments
                  .map((e) => `${e.name}${e.currentVersion ? ` v${e.currentVersion}` : ''}${e.locked ? ' 🔒' : ''}`)
                  .join(' · '),
              ),
              h('td', null, s.description || ''),
            ),
          ),
        ),
      ),
    );
  }

  async function stackPage() {
    const name = ds.stack;
    const holder = h('div', { id: 'envs' });
    const err = h('div', { id: 'refresh-error' });
    root.append(err, holder);
    const results = new Map();
    await poll(
      async () => {
        const stack = (await api('/api/v1/stacks')).items.find((s) => s.name === name);
        if (!stack) {
          replace(holder, h('p', { class: 'error-text' }, `no stack "${name}"`));
          return true;
        }
        const cards = await Promise.all(
          stack.environments.map(async (env) => {
            const base = `/api/v1/stacks/${name}/environments/${env.name}`;
            const [history, queued, recent] = await Promise.all([
              api(`${base}/state/history?limit=10`).then((r) => r.items),
              api(`/api/v1/deployments?stack=${name}&environment=${env.name}&status=queued&limit=20`).then(
                (r) => r.items,
              ),
              api(`/api/v1/deployments?stack=${name}&environment=${env.name}&limit=5`).then((r) => r.items),
            ]);
            const result = results.get(env.name) || h('div', { class: 'env-result' });
            results.set(env.name, result);
            const canDeploy = hasRole('deployer', env.name);
            return h(
              'section',
              { class: 'card env', id: `env-${env.name}`, 'data-env': env.name },
              h(
                'h2',
                null,
                env.name,
                ' ',
                env.currentVersion
                  ? h('span', { class: 'version' }, `version ${env.currentVersion}`)
                  : h('span', { class: 'hint' }, 'never applied'),
              ),
              h(
                'p',
                { class: 'lock' },
                env.locked
                  ? ['Locked by ', h('a', { href: `/runs/${env.lockHolder}`, class: 'lock-holder' }, env.lockHolder)]
                  : 'Unlocked',
                queued.length
                  ? ['; queue: ', queued.map((q, i) => [i ? ', ' : '', h('a', { href: `/runs/${q.id}` }, q.id)])]
                  : '; nothing queued',
                ' ',
                env.locked && hasRole('admin', env.name)
                  ? h(
                      'button',
                      {
                        class: 'unlock',
                        onclick: async () =>
                          void post(
                            `${base}/unlock`,
                            { reason: 'force-unlocked from the stack page' },
                            result,
                            'Unlocked',
                          ),
                      },
                      'Force unlock',
                    )
                  : null,
              ),
              temporalLink(`strata-lock/${name}/${env.name}`),
              h('h3', null, 'History'),
              history.length
                ? table(
                    ['Version', 'Kind', 'Run', 'Created', 'Plan', ''],
                    history.map((v, i) =>
                      h(
                        'tr',
                        { 'data-version': v.version },
                        h('td', null, String(v.version), i === 0 ? ' (current)' : ''),
                        h('td', null, v.kind, v.restoredFrom ? ` of v${v.restoredFrom}` : ''),
                        h('td', null, h('a', { href: `/runs/${v.deploymentId}` }, v.deploymentId)),
                        h('td', null, fmtTime(v.createdAt)),
                        h('td', { class: 'mono' }, v.planHash.slice(0, 12)),
                        h(
                          'td',
                          null,
                          i > 0 && v.kind !== 'destroy'
                            ? h(
                                'button',
                                {
                                  class: 'rollback',
                                  disabled: !canDeploy,
                                  onclick: async () => {
                                    const r = await post(
                                      `${base}/rollback`,
                                      { targetVersion: v.version, reason: 'rollback from the stack page' },
                                      result,
                                      'Rollback started',
                                    );
                                    if (r) location.assign(`/runs/${r.id}`);
                                  },
                                },
                                `Roll back to v${v.version}`,
                              )
                            : null,
                        ),
                      ),
                    ),
                  )
                : h('p', { class: 'hint' }, 'No state versions yet.'),
              h('h3', null, 'Recent runs'),
              recent.length
                ? h(
                    'ul',
                    null,
                    recent.map((r) =>
                      h(
                        'li',
                        null,
                        h('a', { href: `/runs/${r.id}` }, r.id),
                        ' ',
                        badge(r.status),
                        ` ${r.kind} by ${r.requestedBy}`,
                      ),
                    ),
                  )
                : h('p', { class: 'hint' }, 'None.'),
              result,
            );
          }),
        );
        replace(holder, cards);
        return false;
      },
      3000,
      err,
    );
  }

  // ---- failovers -----------------------------------------------------------------------------------------------

  async function failoversPage() {
    const body = h('tbody');
    const err = h('div', { id: 'refresh-error' });
    root.append(
      section(
        'failovers',
        'Failovers',
        err,
        h(
          'table',
          null,
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['Failover', 'Group', 'Mode', 'Status', 'RTO', 'RPO', 'Requested by', 'Created'].map((x) =>
                h('th', null, x),
              ),
            ),
          ),
          body,
        ),
      ),
    );
    await poll(
      async () => {
        const { items } = await api('/api/v1/failovers?limit=50');
        replace(
          body,
          items.length
            ? items.map((f) =>
                h(
                  'tr',
                  null,
                  h('td', null, h('a', { href: `/failovers/${f.id}` }, f.id)),
                  h('td', null, f.group),
                  h('td', null, f.mode + (f.dryRun ? ' (dry run)' : '')),
                  h('td', null, badge(f.status)),
                  h('td', null, f.rtoSeconds !== undefined ? `${f.rtoSeconds.toFixed(1)} s` : ''),
                  h('td', null, f.rpoSeconds !== undefined ? `${f.rpoSeconds.toFixed(1)} s` : ''),
                  h('td', null, f.requestedBy),
                  h('td', null, fmtTime(f.createdAt)),
                ),
              )
            : h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No failovers yet.')),
        );
        return false;
      },
      3000,
      err,
    );
  }

  async function failoverPage() {
    const id = ds.id;
    const title = $('#title');
    const head = h('div', { id: 'failover-head', class: 'card' });
    const actions = h('div', { id: 'actions', class: 'card' });
    const result = h('div', { id: 'action-result' });
    const timeline = section('timeline', 'Stages');
    const extra = h('div');
    const err = h('div', { id: 'refresh-error' });
    const comment = h('input', { id: 'decision-comment', placeholder: 'comment or reason (optional)', size: 40 });
    const approveButton = h('button', { id: 'approve', class: 'primary', onclick: () => decide('approve') }, 'Approve');
    const rejectButton = h('button', { id: 'reject', class: 'danger', onclick: () => decide('reject') }, 'Reject');
    const decision = h('div', { id: 'decision', hidden: true }, approveButton, rejectButton, comment);
    const tally = h('p');
    const rejection = h('p', { class: 'error-text' });
    actions.append(tally, decision, rejection, result);
    root.append(err, head, actions, timeline, extra);
    let f = null;
    let deciding = false;
    const FO_TERMINAL = ['succeeded', 'planned', 'failed', 'rolled_back', 'rejected', 'expired', 'cancelled'];

    const render = () => {
      replace(title, `Failover ${f.group}`, ' ', badge(f.status, 'failover-status'));
      replace(
        head,
        h(
          'dl',
          { class: 'facts' },
          h('dt', null, 'Failover'),
          h('dd', { class: 'mono' }, f.id),
          h('dt', null, 'Mode'),
          h('dd', null, f.mode + (f.dryRun ? ' (dry run)' : '')),
          h('dt', null, 'From → to'),
          h(
            'dd',
            null,
            `${f.from || '?'}${f.fromRegion ? ` (${f.fromRegion})` : ''} → ${f.to || '?'}${f.toRegion ? ` (${f.toRegion})` : ''}`,
          ),
          h('dt', null, 'Requested by'),
          h('dd', null, `${f.requestedBy} via ${f.trigger}`),
          h('dt', null, 'RTO'),
          h('dd', { id: 'rto' }, f.rtoSeconds !== undefined ? `${f.rtoSeconds.toFixed(2)} s` : '—'),
          h('dt', null, 'RPO'),
          h(
            'dd',
            { id: 'rpo' },
            f.rpoSeconds !== undefined ? `${f.rpoSeconds.toFixed(2)} s${f.rpoSource ? ` (${f.rpoSource})` : ''}` : '—',
          ),
          f.epoch !== undefined ? [h('dt', null, 'Epoch'), h('dd', null, String(f.epoch))] : null,
          f.error
            ? [h('dt', null, 'Error'), h('dd', { class: 'error-text' }, `${f.error.code}: ${f.error.message}`)]
            : null,
        ),
        temporalLink(`strata-failover/${f.group}/${f.id}`),
      );
      const waiting = f.status === 'awaiting_approval';
      const canApprove = hasRole('approver');
      // As on the run page: the controls are updated in place so a refresh keeps the caret in the comment.
      replace(
        tally,
        `Approvals ${f.approvals.length} of ${f.approvalsRequired}`,
        f.approvals.map((a) => ` · ${a.by} at ${fmtTime(a.at)} via ${a.via}`),
      );
      decision.hidden = !waiting;
      approveButton.disabled = rejectButton.disabled = !canApprove || deciding;
      rejection.hidden = !f.rejection;
      replace(
        rejection,
        f.rejection ? `Rejected by ${f.rejection.by}${f.rejection.reason ? `: ${f.rejection.reason}` : ''}` : null,
      );
      const stages = STAGES.map(
        (name) => f.stages.find((s) => s.name === name) || { name, status: 'pending', steps: [] },
      );
      const dur = (s) =>
        s.durationMs !== undefined
          ? s.durationMs
          : s.startedAt
            ? (s.completedAt ? Date.parse(s.completedAt) : Date.now()) - Date.parse(s.startedAt)
            : undefined;
      const longest = Math.max(1, ...stages.map((s) => dur(s) || 0));
      replace(
        timeline,
        h('h2', null, 'Stages'),
        h(
          'ol',
          { class: 'timeline', id: 'stages' },
          stages.map((s, i) =>
            h(
              'li',
              { class: `stage st-${s.status}`, 'data-stage': s.name, 'data-status': s.status },
              h(
                'div',
                { class: 'stage-head' },
                h('span', { class: 'stage-n' }, String(i + 1)),
                h('span', { class: 'stage-name' }, s.name.replace(/_/g, ' ')),
                badge(s.status),
                h('span', { class: 'stage-dur' }, fmtDuration(dur(s))),
                s.bestEffort ? h('span', { class: 'hint' }, ' best effort') : null,
              ),
              h(
                'div',
                { class: 'bar' },
                h('span', { style: null, 'data-w': String(Math.round(((dur(s) || 0) / longest) * 100)) }),
              ),
              s.steps.length
                ? h(
                    'ul',
                    { class: 'steps' },
                    s.steps.map((st) =>
                      h(
                        'li',
                        null,
                        `${st.name}: ${st.status}`,
                        st.detail ? ` — ${st.detail}` : '',
                        st.error ? ` (${st.error.message})` : '',
                      ),
                    ),
                  )
                : null,
              s.error ? h('p', { class: 'error-text' }, s.error.message) : null,
            ),
          ),
        ),
      );
      // Widths through the CSSOM: the page's CSP allows no inline style attributes.
      for (const bar of timeline.querySelectorAll('.bar span')) bar.style.width = `${bar.dataset.w}%`;
      replace(
        extra,
        f.readiness.length
          ? section(
              'readiness',
              'Readiness',
              table(
                ['Check', 'OK', 'Side', 'Detail'],
                f.readiness.map((r) =>
                  h(
                    'tr',
                    null,
                    h('td', null, r.name),
                    h('td', null, r.ok ? 'yes' : 'no'),
                    h('td', null, r.side || ''),
                    h('td', null, r.detail || ''),
                  ),
                ),
              ),
            )
          : null,
        f.compensations.length
          ? section(
              'compensations',
              'Compensations',
              table(
                ['Name', 'Stage', 'Status', 'Detail'],
                f.compensations.map((c) =>
                  h(
                    'tr',
                    null,
                    h('td', null, c.name),
                    h('td', null, c.stage),
                    h('td', null, c.status),
                    h('td', null, c.detail || (c.error ? c.error.message : '')),
                  ),
                ),
              ),
            )
          : null,
        section(
          'events',
          'Events',
          h(
            'div',
            { class: 'log' },
            f.events.map((e) =>
              h(
                'div',
                { class: `log-line lv-${e.level}` },
                h('span', { class: 'ts' }, e.ts.slice(11, 23)),
                ' ',
                e.message,
              ),
            ),
          ),
        ),
      );
    };
    async function decide(what) {
      const body =
        what === 'approve' ? { comment: comment.value || undefined } : { reason: comment.value || undefined };
      deciding = true;
      render();
      const r = await post(
        `/api/v1/failovers/${f.id}/${what}`,
        body,
        result,
        what === 'approve' ? `Approved by ${me.subject}` : `Rejected by ${me.subject}`,
      );
      deciding = false;
      if (r) f = r;
      render();
    }
    await poll(
      async () => {
        f = await api(`/api/v1/failovers/${id}`);
        render();
        return FO_TERMINAL.includes(f.status);
      },
      1500,
      err,
    );
  }

  // ---- start ---------------------------------------------------------------------------------------------------

  const pages = {
    runs: runsPage,
    run: runPage,
    stacks: stacksPage,
    stack: stackPage,
    failovers: failoversPage,
    failover: failoverPage,
  };

  async function main() {
    if (ds.page === 'signin') return signinPage();
    if (!token()) return location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
    me = await api('/api/v1/session');
    replace(
      $('#who'),
      h('span', { id: 'whoami' }, me.subject),
      ` (${me.roles.join(', ')}) `,
      h(
        'button',
        {
          id: 'signout',
          class: 'link',
          onclick: () => {
            sessionStorage.removeItem(TOKEN_KEY);
            location.assign('/signin');
          },
        },
        'Sign out',
      ),
    );
    await pages[ds.page]();
  }

  main().catch((err) => {
    root.append(h('p', { class: 'notice error', role: 'alert' }, err.message));
  });
})();
