/**
 * Where prices come from. The estimate asks a `PriceSource` for one resource's monthly price; the shipped source
 * is a dated offline table (pricing/<date>.yaml), and a real pricing API can take its place behind the same
 * interface (pricing/README.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../../shared/config';
import { ErrorCode, StrataError } from '../../shared/errors';

/** A resource as the estimate sees it: what it is, and its attributes where known. */
export interface PricedResource {
  address: string;
  type: string;
  provider?: string;
  attributes?: Record<string, unknown>;
}

/** A source of prices: the offline table, or a real pricing service. */
export interface PriceSource {
  /** Names the prices used (a table file, or an API and its price date); recorded with every estimate. */
  readonly id: string;
  readonly currency: string;
  /** Monthly price of one resource as it is (or will be); undefined when the source has none. */
  monthly(resource: PricedResource): Promise<number | undefined> | number | undefined;
}

const amounts = z.record(z.string(), z.number().min(0));
const entrySchema = z.union([
  z.strictObject({ monthly: z.number().min(0) }),
  z.strictObject({ hourly: z.number().min(0) }),
  z.strictObject({ by: z.string().min(1), monthly: amounts }),
  z.strictObject({ by: z.string().min(1), hourly: amounts }),
  z.strictObject({ perUnit: z.strictObject({ attribute: z.string().min(1), monthly: z.number().min(0) }) }),
]);
const tableSchema = z.strictObject({
  date: z.union([z.string(), z.date()]).transform((d) => (d instanceof Date ? d.toISOString().slice(0, 10) : d)),
  currency: z.string().min(1),
  hoursPerMonth: z.number().positive().default(730),
  resources: z.record(z.string(), entrySchema),
});
/** A validated price table file. */
export type PriceTable = z.infer<typeof tableSchema>;

/** Validates a parsed table; CONFIG_INVALID names the file and each bad field. */
export function parsePriceTable(raw: unknown, file: string): PriceTable {
  const r = tableSchema.safeParse(raw);
  if (!r.success)
    throw new StrataError(
      ErrorCode.CONFIG_INVALID,
      `price table ${file} is invalid:\n  ${formatIssues(r.error.issues).join('\n  ')}`,
    );
  return r.data;
}

/** The monthly price of `resource` from `table`, or undefined when the table cannot price it. */
export function priceFromTable(table: PriceTable, resource: PricedResource): number | undefined {
  const entry = table.resources[resource.type];
  if (!entry) return undefined;
  if ('perUnit' in entry) {
    const units = Number(resource.attributes?.[entry.perUnit.attribute]);
    return Number.isFinite(units) && units >= 0 ? units * entry.perUnit.monthly : undefined;
  }
  if ('by' in entry) {
    const value = resource.attributes?.[entry.by];
    if (typeof value !== 'string' && typeof value !== 'number') return undefined;
    const key = String(value);
    if ('hourly' in entry) return entry.hourly[key] === undefined ? undefined : entry.hourly[key] * table.hoursPerMonth;
    return entry.monthly[key];
  }
  return 'hourly' in entry ? entry.hourly * table.hoursPerMonth : entry.monthly;
}

/** The offline table at `file` (read once) as a price source; its id is the path relative to `baseDir`. */
export function priceTableSource(file: string, baseDir?: string): PriceSource {
  let table: PriceTable;
  try {
    const text = fs.readFileSync(file, 'utf8');
    table = parsePriceTable(file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text), file);
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError(ErrorCode.CONFIG_INVALID, `cannot read price table ${file}: ${(err as Error).message}`);
  }
  const id = baseDir ? path.relative(baseDir, file) : file;
  return { id: `${id} (${table.date})`, currency: table.currency, monthly: (r) => priceFromTable(table, r) };
}
