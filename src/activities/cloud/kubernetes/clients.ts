/**
 * Kubernetes API clients of a failover group's two clusters, built from each side's strata.yaml entry (server + CA
 * + token file/env, or a kubeconfig). The bearer token is read when a client is built and lives only in memory:
 * it never reaches a log line, an error message or the workflow history.
 */
import fs from 'node:fs';
import type {
  ApiException,
  KubeConfig,
  KubernetesObject,
  KubernetesObjectApi,
  VersionApi,
} from '@kubernetes/client-node';
import type { FailoverSide } from '../../../contracts/failover';
import type { FailoverGroupConfig } from '../../../shared/config';
import { kubeClient } from '../../../executors/kubernetes/kube-client';
import { SideUnreachableError, type GroupRef } from '../failover-cloud';

/** The APIs of one side's cluster: objects of any kind, and the server's version (the reachability probe). */
export interface KubeApis {
  objects: KubernetesObjectApi;
  version: VersionApi;
}

/** Builds the APIs of one side's cluster (default: from strata.yaml). */
export type KubeApiFactory = (g: GroupRef, side: FailoverSide) => KubeApis;

/** A KubeConfig for one side of a kubernetes failover group. */
export function kubeConfigOf(cfg: FailoverGroupConfig, side: FailoverSide): KubeConfig {
  const c = cfg[side].kubernetes;
  if (!c) throw new Error(`failover group side ${side} names no kubernetes cluster`);
  const kc = new (kubeClient().KubeConfig)();
  if (c.kubeconfig) {
    kc.loadFromFile(c.kubeconfig);
    if (c.context) kc.setCurrentContext(c.context);
    return kc;
  }
  const token = c.tokenFile ? fs.readFileSync(c.tokenFile, 'utf8').trim() : process.env[c.tokenEnv!];
  if (!token) throw new Error(`the bearer token of the ${side} cluster is empty (${c.tokenFile ?? c.tokenEnv})`);
  kc.loadFromOptions({
    clusters: [{ name: side, server: c.server, caFile: c.caFile, skipTLSVerify: false }],
    users: [{ name: 'strata-failover', token }],
    contexts: [{ name: side, cluster: side, user: 'strata-failover' }],
    currentContext: side,
  });
  return kc;
}

/**
 * One set of APIs per group and side, rebuilt when the token file changes (mounted service-account
 * tokens rotate). Discovery results stay cached in each instance.
 */
export function defaultKubeApiFactory(): KubeApiFactory {
  const cache = new Map<string, { stamp: string; apis: KubeApis }>();
  return (g, side) => {
    const c = g.cfg[side].kubernetes;
    const key = `${g.name}/${side}`;
    try {
      let stamp = '';
      if (c?.tokenFile) stamp = String(fs.statSync(c.tokenFile).mtimeMs);
      else if (c?.kubeconfig) stamp = String(fs.statSync(c.kubeconfig).mtimeMs);
      else if (c?.tokenEnv) stamp = process.env[c.tokenEnv] ?? ''; // in memory only, like the client's own copy
      const hit = cache.get(key);
      if (hit && hit.stamp === stamp) return hit.apis;
      const kc = kubeConfigOf(g.cfg, side);
      const { KubernetesObjectApi, VersionApi } = kubeClient();
      const apis = { objects: KubernetesObjectApi.makeApiClient(kc), version: kc.makeApiClient(VersionApi) };
      cache.set(key, { stamp, apis });
      return apis;
    } catch (err) {
      // A missing kubeconfig, CA or token file is a configuration problem no retry fixes: say so at once.
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') throw err;
      const missing = new Error(`${side} cluster of ${g.name}: file not found: ${e.path}`);
      missing.name = 'NotFound';
      throw missing;
    }
  };
}

/** True for the client's own API error (a response came back); every failure seen here came from the client. */
function isApiException(err: unknown): err is ApiException<unknown> {
  return err instanceof kubeClient().ApiException;
}

/** HTTP status of a failed API call, undefined for a network failure. */
export function statusOf(err: unknown): number | undefined {
  return isApiException(err) ? err.code : undefined;
}

/** True when a call failed because the API server could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof SideUnreachableError) return true;
  if (isApiException(err)) return false;
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|socket hang up|fetch failed/.test(
    `${e?.code} ${e?.cause?.code} ${e?.message}`,
  );
}

/**
 * Turns a client failure into one the activity layer maps well: unreachable → SideUnreachableError (retryable,
 * best effort in emergency mode); an API error keeps its status and reason but not the response headers.
 */
export function kubeError(err: unknown, side: FailoverSide, what: string): Error {
  if (isUnreachable(err)) return new SideUnreachableError(`${side} cluster unreachable (${what}): ${brief(err)}`);
  if (isApiException(err)) {
    const body = err.body as { reason?: string; message?: string } | string | undefined;
    const text = typeof body === 'string' ? tryJson(body) : body;
    const e = new Error(
      `${what} on the ${side} cluster: HTTP ${err.code} ${text?.reason ?? ''} ${text?.message ?? ''}`,
    );
    e.name = err.code === 404 ? 'NotFound' : err.code === 409 ? 'Conflict' : 'KubernetesApiError';
    return e;
  }
  return err instanceof Error ? err : new Error(String(err));
}

function tryJson(s: string): { reason?: string; message?: string } | undefined {
  try {
    return JSON.parse(s) as { reason?: string; message?: string };
  } catch {
    return { message: s.slice(0, 300) };
  }
}

function brief(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string } };
  return `${e?.cause?.code ?? ''} ${e?.message ?? String(err)}`.trim().slice(0, 300);
}

/** A KubernetesObject with the loose spec/status this provider reads. */
export type KubeObject = KubernetesObject & { spec?: any; status?: any };
