/**
 * Provider choice and failover. The stack's `providers` variable says which providers may host it; the
 * stack's `failoverOrder` (strata.yaml) says in which order they are preferred. Planning takes the first
 * available one; every provider skipped on the way is a recorded failover decision.
 */
import { ErrorCode } from '../../shared/errors';
import type { StackSpec } from '../types';
import { failure } from './failures';
import type { Faults, ProviderTable } from './model';

/** The seed's provider table, used when the spec carries none (tests, direct use). */
export const DEFAULT_PROVIDERS: ProviderTable = {
  aws: { region: 'us-west-1', dryRun: false },
  gcp: { region: 'us-central1', dryRun: false },
  azure: { region: 'eastus', dryRun: false },
  dummy: { region: 'test-region', dryRun: false },
};

/** Runtime outage hook on top of the `unavailable_providers` variable. */
export type AvailabilityCheck = (provider: string, region: string) => boolean | Promise<boolean>;

/** Answers "is this provider up?" from the fault variable and the optional hook. */
export function availability(faults: Faults, check?: AvailabilityCheck): AvailabilityCheck {
  return async (provider, region) =>
    !faults.unavailableProviders.includes(provider) && (check ? await check(provider, region) : true);
}

/** Preference order: failoverOrder filtered by the allowed list, then allowed providers it does not mention. */
export function providerOrder(
  allowed: string[] | undefined,
  failoverOrder: string[] | undefined,
  table: ProviderTable,
): string[] {
  const base = allowed ?? failoverOrder ?? Object.keys(table);
  if (!failoverOrder || !allowed) return [...new Set(base)];
  return [...new Set([...failoverOrder.filter((p) => allowed.includes(p)), ...allowed])];
}

export interface ProviderChoice {
  provider: string;
  region: string;
  dryRun: boolean;
  /** Failover decisions, one line per skipped provider plus the outcome. */
  notes: string[];
  failedOver: boolean;
}

/** Picks the first available provider; PROVIDER_UNAVAILABLE (non-retryable) when none is. */
export async function chooseProvider(
  spec: StackSpec,
  vars: Record<string, unknown>,
  isAvailable: AvailabilityCheck,
): Promise<ProviderChoice> {
  const table = spec.providers ?? DEFAULT_PROVIDERS;
  const allowed = Array.isArray(vars.providers) ? vars.providers.map(String) : undefined;
  const order = providerOrder(allowed, spec.failoverOrder, table);
  const notes: string[] = [];
  const skipped: string[] = [];
  for (const provider of order) {
    const cfg = table[provider];
    if (!cfg) {
      notes.push(`provider ${provider} is not configured in the providers table; skipped`);
      skipped.push(`${provider} (not configured)`);
      continue;
    }
    if (!(await isAvailable(provider, cfg.region))) {
      notes.push(`provider ${provider} (${cfg.region}) is unavailable`);
      skipped.push(`${provider} (unavailable)`);
      continue;
    }
    const failedOver = skipped.some((s) => s.endsWith('(unavailable)'));
    if (failedOver) {
      notes.push(
        `provider failover: planning on ${provider} (${cfg.region}), next in failoverOrder [${order.join(', ')}]`,
      );
    }
    if (cfg.dryRun)
      notes.push(`provider ${provider} is in dry-run mode: apply records resources as simulated and creates nothing`);
    return { provider, region: cfg.region, dryRun: cfg.dryRun, notes, failedOver };
  }
  throw failure(
    ErrorCode.PROVIDER_UNAVAILABLE,
    order.length === 0
      ? 'no provider to plan on: the providers list is empty'
      : `no available provider for ${spec.stack}/${spec.environment}: ${skipped.join(', ')}`,
    { tried: order, skipped },
  );
}
