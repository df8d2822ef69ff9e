/**
 * Identity you can prove: a decision counts only when a configured signer vouches for it. Forged decisions sent
 * straight to the Temporal frontend with the `temporal` CLI are refused and recorded with the identity they
 * claimed; a decision signed with a bot key (bound to its subject and roles) counts; API approvals still work.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { testConfig, useStrata } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';
import { poll } from '../helpers/poll';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');

describe('signed decisions', () => {
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bot-')), 'release-bot.key');
  fs.writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
  const config = testConfig({
    approvalSigning: { bots: [{ id: 'release-bot', subject: 'release-bot', roles: ['approver'], file: keyFile }] },
  });
  const s = useStrata(config);

  const temporal = (...args: string[]) =>
    run(toolPath('TEMPORAL_CLI'), [...args, '--address', s.env.connection.options.address as string], {
      encoding: 'utf8',
    });
  const sign = async (workflowId: string, extra: string[] = []) =>
    (
      await run(
        'npx',
        [
          '--no-install',
          'tsx',
          'scripts/sign-decision.ts',
          '--bot',
          'release-bot',
          '--key-file',
          keyFile,
          '--workflow-id',
          workflowId,
          ...extra,
        ],
        { cwd: root, encoding: 'utf8' },
      )
    ).stdout.trim();
  const prodRun = async (environment = 'prod') => {
    const id = await s.http.deploy('alice', { stack: 'sim-multicloud', environment, variables: { instance_count: 1 } });
    await s.http.waitFor(id, ['awaiting_approval']);
    return id;
  };

  it('refuses a forged approval typed into the temporal CLI and records the identity it claimed', async () => {
    const id = await prodRun();
    const wf = deploymentWorkflowId(id);
    const forged = JSON.stringify({ by: 'mallory', roles: ['admin'] });
    const update = await temporal(
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      wf,
      '--name',
      'approve',
      '--input',
      forged,
    ).then(
      (r) => ({ ok: true, out: r.stdout + r.stderr }),
      (err: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    expect(update.ok).toBe(false);
    expect(update.out).toMatch(/unsigned or forged decision/);

    await temporal(
      'workflow',
      'signal',
      '--workflow-id',
      wf,
      '--name',
      'approveSignal',
      '--input',
      JSON.stringify({ by: 'alice', roles: ['approver'] }),
    );
    const d = await poll(
      async () => {
        const r = await s.http.run(id);
        return (r.refusedDecisions ?? []).length >= 2 ? r : undefined;
      },
      { what: 'both forged decisions recorded' },
    );
    expect(d.status).toBe('awaiting_approval');
    expect(d.approvals).toEqual([]);
    expect(d.refusedDecisions!.map((r) => [r.claimedBy, r.transport])).toEqual([
      ['mallory', 'update'],
      ['alice', 'signal'],
    ]);
    expect(d.events.some((e) => /approve by mallory \(update\) refused: unsigned or forged/.test(e.message))).toBe(
      true,
    );
    await s.http.post('carol', `/api/v1/deployments/${id}/reject`, { reason: 'test over' });
  });

  it('counts a decision signed with a bot key, and refuses the key speaking for someone else or another run', async () => {
    const id = await prodRun();
    const wf = deploymentWorkflowId(id);
    // Another run waiting for approval (another environment: the prod lock is held by the first).
    const other = await prodRun('staging');

    const impostor = await sign(wf, ['--by', 'bob', '--roles', 'approver']);
    await temporal('workflow', 'signal', '--workflow-id', wf, '--name', 'approveSignal', '--input', impostor);
    const replayed = await sign(deploymentWorkflowId(other), ['--by', 'release-bot', '--roles', 'approver']);
    await temporal('workflow', 'signal', '--workflow-id', wf, '--name', 'approveSignal', '--input', replayed);
    const greedy = await sign(wf, ['--by', 'release-bot', '--roles', 'approver,admin']);
    await temporal('workflow', 'signal', '--workflow-id', wf, '--name', 'approveSignal', '--input', greedy);

    const good = await sign(wf, ['--by', 'release-bot', '--roles', 'approver', '--comment', 'release train']);
    await temporal('workflow', 'update', 'execute', '--workflow-id', wf, '--name', 'approve', '--input', good);
    const d = await poll(
      async () => {
        const r = await s.http.run(id);
        return r.approvals.length === 1 && (r.refusedDecisions ?? []).length >= 3 ? r : undefined;
      },
      { what: 'bot approval counted and three refusals recorded' },
    );
    expect(d.approvals[0]).toMatchObject({
      by: 'release-bot',
      via: 'bot:release-bot',
      transport: 'update',
      comment: 'release train',
    });
    const reasons = d.refusedDecisions!.map((r) => r.reason).join('\n');
    expect(reasons).toMatch(/speaks only for release-bot, not bob/);
    expect(reasons).toMatch(/assertion is for run/);
    expect(reasons).toMatch(/may not claim roles admin/);

    // The second approval through the API (signed by the API for bob) completes the run.
    const res = await s.http.post('bob', `/api/v1/deployments/${id}/approve`, {});
    expect(res.status).toBe(200);
    const done = await s.http.waitFor(id, ['succeeded']);
    expect(done.approvals.map((a) => [a.by, a.via])).toEqual([
      ['release-bot', 'bot:release-bot'],
      ['bob', 'api'],
    ]);
    await s.http.post('carol', `/api/v1/deployments/${other}/reject`, { reason: 'test over' });
  });
});
