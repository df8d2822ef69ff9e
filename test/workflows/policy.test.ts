/**
 * Policy as code in the plan step, with the real OPA on a real Temporal dev server: a plan a shipped policy denies
 * cannot be approved (409 naming the rule), its warnings are shown beside the plan, an admin override is its own
 * recorded decision only where the environment allows it, a denied plan does not slip through an environment that
 * approves on its own, and a release whose stacks' plans are denied cannot be approved either.
 */
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { recordHistory } from '../helpers/histories';
import { releaseConfig } from '../helpers/release-fixture';
import { releases } from '../helpers/release-client';
import { useStrata } from '../helpers/temporal';

describe('policy as code', () => {
  const config = releaseConfig({
    environments: {
      dev: { approvals: { required: 0 } },
      lenient: { approvals: { required: 1 }, policy: { allowOverride: true } },
      prod: { approvals: { required: 2, fourEyes: true, timeout: '1h' } },
    },
  });
  const s = useStrata(config);

  const publicApp = { stack: 'sim-app', variables: { assets_acl: 'public-read', instance_count: 17 } };

  it('refuses to approve a plan a deny policy rejects, naming the rule, and shows its warnings', async () => {
    const id = await s.http.deploy('alice', { ...publicApp, environment: 'prod' });
    await s.http.waitFor(id, ['awaiting_approval']);
    const plan = (await s.http.get('alice', `/api/v1/deployments/${id}/plan`)).body;
    expect(plan.policy.results).toEqual(
      expect.arrayContaining([
        {
          policy: 'no_public_buckets',
          rule: 'public_bucket',
          level: 'deny',
          message: 'aws_bucket.assets would be public (acl public-read)',
        },
        {
          policy: 'instance_ceiling',
          rule: 'near_ceiling',
          level: 'warn',
          message: '17 instances in prod: near the ceiling of 20',
        },
      ]),
    );
    const res = await s.http.post('bob', `/api/v1/deployments/${id}/approve`, { planHash: plan.planHash });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'CONFLICT', details: { reason: 'POLICY_DENIED' } });
    expect(res.body.error.message).toContain('no_public_buckets.public_bucket: aws_bucket.assets would be public');
    // prod does not allow overrides, not even for admins.
    const override = await s.http.post('carol', `/api/v1/deployments/${id}/override-policy`, { reason: 'launch day' });
    expect(override.status).toBe(403);
    expect(override.body.error.message).toContain('does not allow policy overrides');
    // Rejecting stays possible.
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/reject`, { reason: 'public bucket' })).status).toBe(
      200,
    );
  });

  it('lets an admin override a denial where allowed: a recorded decision with a reason, then the approval', async () => {
    const id = await s.http.deploy('alice', { ...publicApp, environment: 'lenient' });
    await s.http.waitFor(id, ['awaiting_approval']);
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/approve`, {})).status).toBe(409);
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/override-policy`, { reason: 'x' })).status).toBe(403);
    expect((await s.http.post('carol', `/api/v1/deployments/${id}/override-policy`, {})).status).toBe(400);
    const overridden = await s.http.post('carol', `/api/v1/deployments/${id}/override-policy`, {
      reason: 'public marketing assets, signed off by security',
    });
    expect(overridden.status).toBe(200);
    expect(overridden.body.policyOverride).toMatchObject({
      by: 'carol',
      reason: 'public marketing assets, signed off by security',
      rules: ['no_public_buckets.public_bucket'],
    });
    expect((await s.http.post('carol', `/api/v1/deployments/${id}/override-policy`, { reason: 'again' })).status).toBe(
      409,
    );
    expect((await s.http.post('bob', `/api/v1/deployments/${id}/approve`, {})).status).toBe(200);
    const d = await s.http.waitFor(id, ['succeeded']);
    expect(d.events.some((e) => /policy denial overridden by carol/.test(e.message))).toBe(true);
    await recordHistory(s.env.address, deploymentWorkflowId(id), 'deployment-policy-overridden-approved-succeeded');
  });

  it('fails a denied plan where nobody has to approve, and takes the explicit flag for a database deletion', async () => {
    const id = await s.http.deploy('alice', { ...publicApp, environment: 'dev' });
    const d = await s.http.waitFor(id, ['failed']);
    expect(d.error).toMatchObject({
      code: 'POLICY_DENIED',
      message: expect.stringContaining('no_public_buckets.public_bucket'),
    });
    expect(d.applyStartedAt).toBeUndefined();

    const db = await s.http.deploy('alice', { stack: 'sim-db', environment: 'dev' });
    await s.http.waitFor(db, ['succeeded']);
    const destroy = await s.http.post('alice', '/api/v1/stacks/sim-db/environments/dev/destroy', {
      reason: 'teardown',
    });
    const refused = await s.http.waitFor(destroy.body.id, ['failed']);
    expect(refused.error!.message).toContain('database_deletion.database_deletion: aws_database.main would be deleted');
    const flagged = await s.http.post('alice', '/api/v1/stacks/sim-db/environments/dev/destroy', {
      reason: 'teardown',
      policyFlags: { allow_database_deletion: true },
    });
    await s.http.waitFor(flagged.body.id, ['succeeded']);
  });

  it('refuses to approve a release whose stacks a policy denies, naming stack and rule', async () => {
    const rel = releases(s.http);
    const id = await rel.start('alice', {
      environment: 'prod',
      stacks: [{ stack: 'sim-network' }, { ...publicApp, inputs: { network_dns: 'sim-network.dns_name' } }],
    });
    const r = await rel.waitFor(id, ['awaiting_approval']);
    expect(r.policy).toMatchObject({
      deny: 1,
      results: expect.arrayContaining([
        expect.objectContaining({ stack: 'sim-app', rule: 'public_bucket', level: 'deny' }),
      ]),
    });
    const res = await s.http.post('bob', `/api/v1/releases/${id}/approve`, {});
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain('sim-app/no_public_buckets.public_bucket');
    expect((await s.http.post('bob', `/api/v1/releases/${id}/reject`, { reason: 'public bucket' })).body.status).toBe(
      'rejected',
    );
  });
});
