/**
 * POST /slack/events — Slack interactivity (block actions). Every request is verified with the signing secret
 * (HMAC-SHA256 of `v0:<timestamp>:<raw body>`, timestamps older than five minutes refused) before anything is
 * parsed. A button press becomes the same approve/reject Update as the HTTP API, on behalf of the Strata
 * subject mapped from the Slack user; refusals are answered in Slack with the validator's reason.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { Router } from 'express';
import type { StrataConfig } from '../../shared/config';
import { ErrorCode } from '../../shared/errors';
import type { Principal } from '../auth';
import type { RunService } from '../deployments/run-service';
import { HttpError, toHttpError } from '../http-errors';

export function verifySlackSignature(
  secret: string,
  timestamp: string,
  rawBody: string,
  signature: string,
  nowSec = Date.now() / 1000,
): boolean {
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSec - Number(timestamp)) > 300) return false;
  const expected = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
  const a = Buffer.from(expected);
  const b = Buffer.from(signature);
  return a.length === b.length && timingSafeEqual(a, b);
}

interface BlockActionsPayload {
  type: string;
  user?: { id?: string; username?: string };
  actions?: { action_id?: string; value?: string }[];
}

export function slackRouter(config: StrataConfig, runs: RunService): Router {
  const router = Router();
  const principals = new Map(
    config.auth.tokens.map((t) => [
      t.subject,
      { subject: t.subject, roles: t.roles, environmentRoles: t.environments, via: 'slack' as const },
    ]),
  );

  router.post('/slack/events', express.raw({ type: '*/*', limit: '64kb' }), async (req, res) => {
    const secret = config.slack?.signingSecret;
    if (!secret) throw new HttpError(404, ErrorCode.NOT_FOUND, 'Slack is not configured (slack.signingSecret)');
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const ts = String(req.headers['x-slack-request-timestamp'] ?? '');
    const sig = String(req.headers['x-slack-signature'] ?? '');
    if (!verifySlackSignature(secret, ts, raw, sig))
      throw new HttpError(401, ErrorCode.UNAUTHENTICATED, 'invalid Slack signature');

    let payload: BlockActionsPayload;
    try {
      const form = new URLSearchParams(raw);
      payload = JSON.parse(form.get('payload') ?? raw) as BlockActionsPayload;
    } catch {
      throw new HttpError(400, ErrorCode.VALIDATION_FAILED, 'Slack payload is not valid JSON');
    }
    if (payload.type === 'url_verification') {
      res.json({ challenge: (payload as unknown as { challenge?: string }).challenge });
      return;
    }
    const action = payload.actions?.[0];
    if (
      payload.type !== 'block_actions' ||
      !action?.value ||
      !['strata_approve', 'strata_reject'].includes(action.action_id ?? '')
    ) {
      res.json({ response_type: 'ephemeral', text: 'Nothing for Strata to do with this action.' });
      return;
    }
    const subject = config.slack?.users[payload.user?.id ?? ''];
    const principal: Principal | undefined = subject ? principals.get(subject) : undefined;
    if (!principal) {
      res.json({
        response_type: 'ephemeral',
        replace_original: false,
        text: `Slack user ${payload.user?.id ?? '?'} is not mapped to a Strata user (slack.users).`,
      });
      return;
    }
    try {
      const d =
        action.action_id === 'strata_approve'
          ? await runs.approve(action.value, principal, { comment: 'via Slack' })
          : await runs.reject(action.value, principal, { reason: 'rejected in Slack' });
      const verb = action.action_id === 'strata_approve' ? 'approved' : 'rejected';
      res.json({
        response_type: 'in_channel',
        replace_original: false,
        text: `${principal.subject} ${verb} ${d.kind} of ${d.stack} → ${d.environment} (${d.approvals.length}/${d.approvalsRequired}); status: ${d.status}`,
      });
    } catch (err) {
      const h = toHttpError(err);
      res.json({
        response_type: 'ephemeral',
        replace_original: false,
        text: `Not ${action.action_id === 'strata_approve' ? 'approved' : 'rejected'}: ${h.message}`,
      });
    }
  });
  return router;
}
