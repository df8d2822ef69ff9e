/**
 * Monthly cost of a plan: the stack's resources before and after, each priced by a PriceSource. A resource the
 * source cannot price (before or after) is listed and left out of both sums, so the difference is never made up.
 */
import type { CostEstimate } from '../../contracts/policy';
import type { PlanDetail } from '../policy/plan-detail';
import type { PriceSource, PricedResource } from './price-source';

export {
  priceTableSource,
  priceFromTable,
  parsePriceTable,
  type PriceSource,
  type PricedResource,
  type PriceTable,
} from './price-source';

const cents = (n: number) => Math.round(n * 100) / 100;

/** Prices the stack before and after the plan. */
export async function estimateCost(
  detail: Pick<PlanDetail, 'before' | 'after'>,
  source: PriceSource,
): Promise<CostEstimate> {
  const price = async (rs: PricedResource[]) =>
    new Map(await Promise.all(rs.map(async (r) => [r.address, await source.monthly(r)] as const)));
  const [before, after] = await Promise.all([price(detail.before), price(detail.after)]);
  const unpriced = new Set<string>();
  for (const m of [before, after]) for (const [address, p] of m) if (p === undefined) unpriced.add(address);
  const sum = (m: Map<string, number | undefined>) =>
    [...m].reduce((t, [address, p]) => (unpriced.has(address) ? t : t + (p ?? 0)), 0);
  const monthlyBefore = sum(before);
  const monthlyAfter = sum(after);
  return {
    monthlyBefore: cents(monthlyBefore),
    monthlyAfter: cents(monthlyAfter),
    monthlyDelta: cents(monthlyAfter - monthlyBefore),
    currency: source.currency,
    unpriced: [...unpriced].sort(),
    priceTable: source.id,
  };
}

/** The activities' cost hook over one price source. */
export function costEstimator(source: PriceSource) {
  return (detail: Pick<PlanDetail, 'before' | 'after'>) => estimateCost(detail, source);
}
