/**
 * Signs an approval or rejection with a bot key, printing the JSON a bot passes to
 * `temporal workflow signal|update --input`. The bot's key is the base64 secret configured for it in
 * strata.yaml (`approvalSigning.bots[]`), bound there to one subject and its roles.
 *
 *   npx tsx scripts/sign-decision.ts --bot release-bot --key-file bot.key --by release-bot --roles approver \
 *     --workflow-id strata-run/<id> --decision approve [--plan-hash <hash>] [--comment text] [--ttl 300]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { signDecision } from '../src/shared/decision-signing';

const { values } = parseArgs({
  options: {
    bot: { type: 'string' },
    'key-file': { type: 'string' },
    by: { type: 'string' },
    roles: { type: 'string', default: 'approver' },
    'workflow-id': { type: 'string' },
    decision: { type: 'string', default: 'approve' },
    'plan-hash': { type: 'string' },
    comment: { type: 'string' },
    reason: { type: 'string' },
    ttl: { type: 'string', default: '300' },
  },
});
const need = (k: keyof typeof values) => {
  const v = values[k];
  if (typeof v !== 'string' || !v) {
    console.error(`missing --${k}`);
    process.exit(2);
  }
  return v;
};
const decision = need('decision');
if (decision !== 'approve' && decision !== 'reject') {
  console.error('--decision is approve or reject');
  process.exit(2);
}
const key = Buffer.from(fs.readFileSync(need('key-file'), 'utf8').trim(), 'base64');
const by = need('by');
const roles = need('roles').split(',').filter(Boolean);
const bot = need('bot');
const assertion = signDecision(
  {
    v: 1,
    keyId: `bot:${bot}`,
    runId: need('workflow-id'),
    decision,
    planHash: values['plan-hash'],
    by,
    roles,
    via: `bot:${bot}`,
    expiresAt: new Date(Date.now() + Number(values.ttl) * 1000).toISOString(),
  },
  key,
);
const input =
  decision === 'approve'
    ? { by, roles, planHash: values['plan-hash'], comment: values.comment, assertion }
    : { by, roles, reason: values.reason, assertion };
process.stdout.write(JSON.stringify(input) + '\n');
