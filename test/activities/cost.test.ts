/**
 * Cost estimates from the dated offline price table: hourly × 730, sizes by attribute, unpriced resources listed
 * and kept out of both sums, and the shipped table valid and priced for every simulated resource kind.
 */
import path from 'node:path';
import { estimateCost, priceFromTable, priceTableSource, type PriceTable } from '../../src/activities/cost';

const root = path.resolve(__dirname, '..', '..');
const shipped = priceTableSource(path.join(root, 'pricing/2026-11-01.yaml'), root);
const instance = (i: number, size = 'small') => ({
  address: `aws_instance.web[${i}]`,
  type: 'aws_instance',
  attributes: { instance_type: size },
});

describe('cost estimates', () => {
  it('prices hourly resources at 730 hours a month and gives before, after and delta', async () => {
    const before = [0, 1].map((i) => instance(i));
    const after = [0, 1, 2, 3, 4].map((i) => instance(i));
    const c = await estimateCost({ before, after }, shipped);
    // 0.0208 $/h × 730 h = 15.184 $ per small instance; 3 more of them.
    expect(c).toEqual({
      monthlyBefore: 30.37,
      monthlyAfter: 75.92,
      monthlyDelta: 45.55,
      currency: 'USD',
      unpriced: [],
      priceTable: 'pricing/2026-11-01.yaml (2026-11-01)',
    });
  });

  it('lists a resource it cannot price and never counts it as zero', async () => {
    const quantum = { address: 'aws_quantum_computer.q', type: 'aws_quantum_computer', attributes: { qubits: 1000 } };
    const unknownSize = {
      address: 'aws_instance.big',
      type: 'aws_instance',
      attributes: { instance_type: 'u-24tb1.metal' },
    };
    const unknownYet = { address: 'aws_db_instance.db', type: 'aws_db_instance' };
    const c = await estimateCost(
      { before: [instance(0)], after: [instance(0), quantum, unknownSize, unknownYet] },
      shipped,
    );
    expect(c.unpriced).toEqual(['aws_db_instance.db', 'aws_instance.big', 'aws_quantum_computer.q']);
    expect(c).toMatchObject({ monthlyBefore: 15.18, monthlyAfter: 15.18, monthlyDelta: 0 });
    // An address unpriced on one side is left out of both, so the delta is not invented.
    const resized = await estimateCost(
      { before: [instance(0)], after: [{ ...instance(0), attributes: { instance_type: 'mystery' } }] },
      shipped,
    );
    expect(resized).toMatchObject({
      monthlyBefore: 0,
      monthlyAfter: 0,
      monthlyDelta: 0,
      unpriced: ['aws_instance.web[0]'],
    });
  });

  it('prices per unit and explicitly free resources', () => {
    const table: PriceTable = {
      date: '2026-11-01',
      currency: 'USD',
      hoursPerMonth: 730,
      resources: {
        aws_ebs_volume: { perUnit: { attribute: 'size', monthly: 0.08 } },
        local_file: { monthly: 0 },
        aws_lb: { hourly: 0.0225 },
      },
    };
    expect(priceFromTable(table, { address: 'v', type: 'aws_ebs_volume', attributes: { size: 100 } })).toBeCloseTo(8);
    expect(priceFromTable(table, { address: 'f', type: 'local_file' })).toBe(0);
    expect(priceFromTable(table, { address: 'lb', type: 'aws_lb' })).toBeCloseTo(16.425);
    expect(priceFromTable(table, { address: 'v', type: 'aws_ebs_volume' })).toBeUndefined();
  });

  it('ships a table pricing every kind of the simulated aws, gcp and azure providers', async () => {
    for (const provider of ['aws', 'gcp', 'azure']) {
      const rs = [
        { address: 'b', type: `${provider}_bucket`, attributes: {} },
        { address: 'd', type: `${provider}_database`, attributes: { size: 'db.small' } },
        { address: 'i', type: `${provider}_instance`, attributes: { instance_type: 'small' } },
        { address: 'r', type: `${provider}_dns_record`, attributes: {} },
      ];
      for (const r of rs) expect(await shipped.monthly(r)).toBeDefined();
    }
    // The dummy provider has no price list.
    expect(
      await shipped.monthly({ address: 'i', type: 'dummy_instance', attributes: { instance_type: 'small' } }),
    ).toBeUndefined();
  });
});
