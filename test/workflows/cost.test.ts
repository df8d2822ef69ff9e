/**
 * Cost per plan on a real Temporal dev server and the simulated executor: GET /deployments/:id/plan shows the
 * monthly cost before, after and the delta beside the risk, from the shipped dated price table; resources the
 * table cannot price are listed; policies see the estimate and warn on it.
 */
import { useStrata } from '../helpers/temporal';
import { releaseConfig } from '../helpers/release-fixture';

describe('cost estimates of plans', () => {
  const config = releaseConfig({ environments: { dev: { approvals: { required: 0 } } } });
  const s = useStrata(config);

  it('prices sim-multicloud going from 2 to 5 instances', async () => {
    const first = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 2 },
    });
    const created = await s.http.waitFor(first, ['succeeded']);
    // From nothing: bucket 2.30 + database db.small 0.034 × 730 + two small instances 0.0208 × 730 each + DNS 0.
    expect(created.plan!.cost).toMatchObject({
      monthlyBefore: 0,
      monthlyAfter: 57.49,
      monthlyDelta: 57.49,
      currency: 'USD',
      unpriced: [],
    });

    const scale = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { instance_count: 5 },
    });
    await s.http.waitFor(scale, ['succeeded']);
    const plan = (await s.http.get('alice', `/api/v1/deployments/${scale}/plan`)).body;
    expect(plan.risk).toBe('medium');
    expect(plan.cost).toEqual({
      monthlyBefore: 57.49,
      monthlyAfter: 103.04,
      monthlyDelta: 45.55,
      currency: 'USD',
      unpriced: [],
      priceTable: 'pricing/2026-11-01.yaml (2026-11-01)',
    });
    expect(plan.policy.results).toContainEqual({
      policy: 'cost_guard',
      rule: 'monthly_increase',
      level: 'warn',
      message: 'monthly cost rises by 45.55 USD (57.49 → 103.04)',
    });
  });

  it('lists resources of a type the price table does not know as unpriced', async () => {
    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'dev',
      variables: { providers: 'dummy', instance_count: 1 },
      dryRun: true,
    });
    await s.http.waitFor(id, ['planned']);
    const plan = (await s.http.get('alice', `/api/v1/deployments/${id}/plan`)).body;
    expect(plan.cost.unpriced).toEqual(
      expect.arrayContaining([
        'dummy_bucket.assets',
        'dummy_database.main',
        'dummy_instance.web[0]',
        'dummy_dns_record.www',
      ]),
    );
    // The dummy resources count in neither sum; the aws ones the move deletes are what it costs now.
    expect(plan.cost).toMatchObject({ monthlyBefore: 103.04, monthlyAfter: 0, monthlyDelta: -103.04 });
    expect(plan.policy.results).toContainEqual(
      expect.objectContaining({ policy: 'cost_guard', rule: 'unpriced', level: 'warn' }),
    );
  });
});
