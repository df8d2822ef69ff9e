/** The CloudFormation API calls the executor makes, with the waits CloudFormation needs between them. */
import {
  CloudFormationClient,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  type CloudFormationClientConfig,
  type DescribeChangeSetCommandOutput,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { ErrorCode } from '../../shared/errors';
import type { ExecutorContext, StackSpec } from '../types';
import { failure, type CfnStateResource, type StackBaseline } from './model';

/** Where the stack lives, resolved from the stack's `aws` config. */
export interface CfnTarget {
  region: string;
  endpoint?: string;
  stackName: string;
}

/** The stack's target: `aws.region` (else AWS_REGION), `aws.stackName` (else strata-<stack>-<env>). */
export function targetOf(spec: StackSpec): CfnTarget {
  const region = spec.aws?.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) {
    throw failure(
      ErrorCode.CONFIG_INVALID,
      `stack ${spec.stack} uses the cloudformation executor but names no region: set stacks.${spec.stack}.aws.region`,
    );
  }
  const derived = `strata-${spec.stack}-${spec.environment}`.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 128);
  return { region, endpoint: spec.aws?.endpoint, stackName: spec.aws?.stackName ?? derived };
}

/** A client for the target; credentials come from the default provider chain. */
export function clientFor(target: CfnTarget, extra: Partial<CloudFormationClientConfig> = {}): CloudFormationClient {
  return new CloudFormationClient({
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    maxAttempts: 5,
    ...extra,
  });
}

const isMissing = (err: unknown) => err instanceof Error && /does not exist/i.test(err.message);

/** The stack by name or id, or undefined when there is none (a deleted stack by id counts as none). */
export async function describeStack(cfn: CloudFormationClient, nameOrId: string): Promise<Stack | undefined> {
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: nameOrId }));
    const s = out.Stacks?.[0];
    return s && s.StackStatus !== 'DELETE_COMPLETE' ? s : undefined;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** The newest stack events (newest first). */
export async function recentEvents(cfn: CloudFormationClient, stackId: string): Promise<StackEvent[]> {
  const out = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId }));
  return out.StackEvents ?? [];
}

/** The stack's baseline as of now (all null when it does not exist). */
export async function baselineOf(cfn: CloudFormationClient, stack: Stack | undefined): Promise<StackBaseline> {
  if (!stack?.StackId) return { stackId: null, status: null, lastEventId: null };
  const events = await recentEvents(cfn, stack.StackId);
  return { stackId: stack.StackId, status: stack.StackStatus ?? null, lastEventId: events[0]?.EventId ?? null };
}

/** Same stack, same status, no event since. */
export const sameBaseline = (a: StackBaseline, b: StackBaseline): boolean =>
  a.stackId === b.stackId && a.status === b.status && a.lastEventId === b.lastEventId;

/** The stack's resources as Strata records them. */
export async function stackResources(cfn: CloudFormationClient, stackId: string): Promise<CfnStateResource[]> {
  const out = await cfn.send(new DescribeStackResourcesCommand({ StackName: stackId }));
  return (out.StackResources ?? []).map((r) => ({
    address: r.LogicalResourceId ?? '?',
    type: r.ResourceType ?? 'unknown',
    physicalId: r.PhysicalResourceId,
    status: r.ResourceStatus,
  }));
}

/** The stack's outputs as a plain map. */
export function outputsOf(stack: Stack | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of stack?.Outputs ?? []) if (o.OutputKey) out[o.OutputKey] = o.OutputValue;
  return out;
}

/** Resolves after `ms`, or as soon as the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Polls the change set until CloudFormation has finished computing it (CREATE_COMPLETE or FAILED). */
export async function waitForChangeSet(
  cfn: CloudFormationClient,
  id: string,
  ctx: ExecutorContext,
  timeoutMs = 10 * 60_000,
): Promise<DescribeChangeSetCommandOutput> {
  const deadline = Date.now() + timeoutMs;
  for (let every = 250; ; every = Math.min(every * 2, 5000)) {
    const cs = await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: id }));
    if (cs.Status === 'CREATE_COMPLETE' || cs.Status === 'FAILED') {
      // Later pages of a large change set (over 100 changes).
      let token = cs.NextToken;
      while (token) {
        const more = await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: id, NextToken: token }));
        cs.Changes = [...(cs.Changes ?? []), ...(more.Changes ?? [])];
        token = more.NextToken;
      }
      return cs;
    }
    if (Date.now() > deadline) {
      throw failure(ErrorCode.PLAN_FAILED, `change set ${id} still ${cs.Status} after ${timeoutMs / 1000}s`);
    }
    if (ctx.signal.aborted)
      throw failure(ErrorCode.PLAN_FAILED, `planning cancelled while change set ${id} was being created`);
    ctx.heartbeat({ phase: 'change-set', status: cs.Status });
    await sleep(every, ctx.signal);
  }
}

/** Stack statuses in which no operation is under way. */
export const SETTLED = /(_COMPLETE|_FAILED)$/;
/** Settled statuses that mean the last operation did what it was asked. */
export const SUCCEEDED = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE', 'DELETE_COMPLETE']);
