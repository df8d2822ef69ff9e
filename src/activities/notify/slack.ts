/**
 * Posts "approval needed" messages with Approve/Reject buttons to Slack (chat.postMessage). The buttons come
 * back to POST /slack/events, which turns them into the same approve/reject Updates the HTTP API uses.
 */
import type { StrataConfig } from '../../shared/config';

export interface ApprovalNotice {
  runId: string;
  kind: string;
  stack: string;
  environment: string;
  requestedBy: string;
  approvalsRequired: number;
  plan?: { add: number; change: number; destroy: number; risk: string; planHash: string };
  reason?: string;
}

/** Slack's block kit message for a run awaiting approval; the buttons' value is the run id. */
export function approvalMessage(n: ApprovalNotice, channel: string, publicUrl?: string) {
  const plan = n.plan
    ? `+${n.plan.add} ~${n.plan.change} -${n.plan.destroy} · risk *${n.plan.risk}* · plan \`${n.plan.planHash.slice(0, 12)}\``
    : 'no plan';
  const link = publicUrl ? `\n<${publicUrl}/api/v1/deployments/${n.runId}|${n.runId}>` : `\n\`${n.runId}\``;
  return {
    channel,
    text: `${n.kind} of ${n.stack} to ${n.environment} by ${n.requestedBy} awaits approval`,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*${n.kind}* of *${n.stack}* → *${n.environment}* by ${n.requestedBy} needs ${n.approvalsRequired} approval(s)\n${plan}${n.reason ? `\n> ${n.reason}` : ''}${link}`,
        },
      },
      {
        type: 'actions',
        block_id: `strata:${n.runId}`,
        elements: [
          {
            type: 'button',
            action_id: 'strata_approve',
            style: 'primary',
            text: { type: 'plain_text', text: 'Approve' },
            value: n.runId,
          },
          {
            type: 'button',
            action_id: 'strata_reject',
            style: 'danger',
            text: { type: 'plain_text', text: 'Reject' },
            value: n.runId,
          },
        ],
      },
    ],
  };
}

export function createNotifyActivities({
  config,
  fetchImpl = fetch,
}: {
  config: StrataConfig;
  fetchImpl?: typeof fetch;
}) {
  return {
    /** Best effort: a Slack outage must never hold up a deployment, so failures are reported, not thrown. */
    async notifyApprovalNeeded(n: ApprovalNotice): Promise<{ sent: boolean; reason?: string }> {
      const slack = config.slack;
      if (!slack?.botToken) return { sent: false, reason: 'Slack is not configured' };
      const res = await fetchImpl(`${slack.apiUrl}/chat.postMessage`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${slack.botToken}`, 'Content-Type': 'application/json; charset=utf-8' },
        body: JSON.stringify(approvalMessage(n, slack.channel, slack.publicUrl)),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json().catch(() => ({}))) as { ok?: boolean; error?: string };
      return body.ok ? { sent: true } : { sent: false, reason: body.error ?? `HTTP ${res.status}` };
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
