/**
 * AWS SDK v3 clients for failover groups: one client per service and region, created on first use and
 * cached inside the returned object (not in module state), pointed at real AWS or at an emulator (moto).
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { RDSClient, type RDSClientConfig } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';

export interface AwsClientsOptions {
  /** Region of global services (Route53); default us-east-1. */
  region?: string;
  /** One endpoint for every service and region (moto: `http://127.0.0.1:PORT`); unset for real AWS. */
  endpoint?: string;
  /** Per-region endpoint overrides for regional services (tests make a region unreachable with a dead port). */
  regionEndpoints?: Record<string, string>;
  /** Default: the SDK's credential chain (env, profile, SSO, instance role). */
  credentials?: RDSClientConfig['credentials'];
  /** SDK-level attempts per call (default 3); Temporal retries the activity on top. */
  maxAttempts?: number;
  /** Per-request timeouts, so an unreachable region fails fast instead of hanging the activity. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export interface AwsFailoverClients {
  route53(): Route53Client;
  rds(region: string): RDSClient;
  autoScaling(region: string): AutoScalingClient;
  elbv2(region: string): ElasticLoadBalancingV2Client;
  dynamodb(region: string): DynamoDBClient;
  /** Closes every client created so far. */
  destroy(): void;
}

type Ctor<T> = new (cfg: Record<string, unknown>) => T;

/** Builds lazily-created, per-region SDK clients from one set of options. */
export function createAwsClients(opts: AwsClientsOptions = {}): AwsFailoverClients {
  const cache = new Map<string, { destroy(): void }>();
  // Route53 is global: a region's outage (or override) never applies to it.
  const endpointOf = (region: string, global: boolean) =>
    global ? opts.endpoint : (opts.regionEndpoints?.[region] ?? opts.endpoint);
  const base = (region: string, global: boolean) => ({
    region,
    ...(endpointOf(region, global) ? { endpoint: endpointOf(region, global) } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    maxAttempts: opts.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: opts.connectionTimeoutMs ?? 3000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
    },
  });
  function get<T extends { destroy(): void }>(C: Ctor<T>, service: string, region: string): T {
    const key = `${service}:${region}`;
    let c = cache.get(key) as T | undefined;
    if (!c) {
      c = new C(base(region, service === 'route53'));
      cache.set(key, c);
    }
    return c;
  }
  return {
    route53: () => get(Route53Client as unknown as Ctor<Route53Client>, 'route53', opts.region ?? 'us-east-1'),
    rds: (region) => get(RDSClient as unknown as Ctor<RDSClient>, 'rds', region),
    autoScaling: (region) => get(AutoScalingClient as unknown as Ctor<AutoScalingClient>, 'autoscaling', region),
    elbv2: (region) =>
      get(ElasticLoadBalancingV2Client as unknown as Ctor<ElasticLoadBalancingV2Client>, 'elbv2', region),
    dynamodb: (region) => get(DynamoDBClient as unknown as Ctor<DynamoDBClient>, 'dynamodb', region),
    destroy: () => {
      for (const c of cache.values()) c.destroy();
      cache.clear();
    },
  };
}
