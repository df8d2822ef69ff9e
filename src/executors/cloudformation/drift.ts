/**
 * Drift: CloudFormation's own drift detection (DetectStackDrift, then the resource drifts it found). Where the
 * endpoint does not implement it (moto 5.2.5 has no DetectStackDrift), Strata compares what it can see itself:
 * the stack is gone or replaced, its last change is not Strata's, resources appeared, vanished or got another
 * physical id.
 */
import {
  DescribeStackDriftDetectionStatusCommand,
  DescribeStackResourceDriftsCommand,
  DetectStackDriftCommand,
  type CloudFormationClient,
} from '@aws-sdk/client-cloudformation';
import type { DriftedResource, DriftReport, ExecutorContext, StackSpec } from '../types';
import { baselineOf, describeStack, sameBaseline, sleep, stackResources, targetOf, type CfnTarget } from './aws';
import { loadState } from './state';

/** IAM and data stores drifting matter most; everything else is medium. */
function severityOf(type: string, change: DriftedResource['change']): DriftedResource['severity'] {
  if (change === 'deleted') return type.startsWith('AWS::IAM::') ? 'critical' : 'high';
  if (type.startsWith('AWS::IAM::')) return 'high';
  return /DynamoDB|RDS|S3/.test(type) ? 'medium' : 'low';
}

/** Whether an error says the endpoint does not implement the call. */
const unsupported = (err: unknown): boolean => {
  const e = err as { $metadata?: { httpStatusCode?: number }; name?: string; message?: string };
  return (
    e?.$metadata?.httpStatusCode === 500 ||
    e?.$metadata?.httpStatusCode === 501 ||
    /not (yet )?implemented|UnknownOperation|InvalidAction|XML parse/i.test(`${e?.name} ${e?.message}`)
  );
};

async function cloudFormationDrift(
  cfn: CloudFormationClient,
  stackId: string,
  ctx: ExecutorContext,
): Promise<DriftedResource[]> {
  const { StackDriftDetectionId: id } = await cfn.send(new DetectStackDriftCommand({ StackName: stackId }));
  for (const deadline = Date.now() + 10 * 60_000; ; ) {
    const st = await cfn.send(new DescribeStackDriftDetectionStatusCommand({ StackDriftDetectionId: id }));
    if (st.DetectionStatus === 'DETECTION_COMPLETE' || st.DetectionStatus === 'DETECTION_FAILED') break;
    if (Date.now() > deadline) throw new Error(`drift detection ${id} still ${st.DetectionStatus} at the deadline`);
    ctx.heartbeat({ phase: 'drift-detection' });
    await sleep(1000, ctx.signal);
  }
  const out: DriftedResource[] = [];
  let token: string | undefined;
  do {
    const page = await cfn.send(
      new DescribeStackResourceDriftsCommand({
        StackName: stackId,
        StackResourceDriftStatusFilters: ['MODIFIED', 'DELETED'],
        NextToken: token,
      }),
    );
    for (const d of page.StackResourceDrifts ?? []) {
      const change = d.StackResourceDriftStatus === 'DELETED' ? 'deleted' : 'modified';
      const type = d.ResourceType ?? 'unknown';
      out.push({ address: d.LogicalResourceId ?? '?', type, change, severity: severityOf(type, change) });
    }
    token = page.NextToken;
  } while (token);
  return out;
}

/** Compares the stack CloudFormation reports with Strata's state of it. */
export async function detectDrift(
  spec: StackSpec,
  ctx: ExecutorContext,
  cfnFor: (t: CfnTarget) => CloudFormationClient,
): Promise<DriftReport> {
  const scannedAt = new Date().toISOString();
  const state = await loadState(ctx);
  if (!state.baseline.stackId) return { scannedAt, drifted: false, resources: [] };
  const cfn = cfnFor(targetOf(spec));
  const stack = await describeStack(cfn, state.baseline.stackId);
  if (!stack) {
    const resources = state.resources.map((r) => ({
      address: r.address,
      type: r.type,
      change: 'deleted' as const,
      severity: 'critical' as const,
    }));
    ctx.log({
      level: 'warn',
      message: `stack ${state.stackName} (${state.baseline.stackId}) was deleted outside Strata`,
    });
    return { scannedAt, drifted: true, resources };
  }
  const found = new Map<string, DriftedResource>();
  try {
    for (const d of await cloudFormationDrift(cfn, state.baseline.stackId, ctx)) found.set(d.address, d);
  } catch (err) {
    if (!unsupported(err)) throw err;
    ctx.log({
      level: 'warn',
      message: `the CloudFormation endpoint does not implement DetectStackDrift (${(err as Error).message.split('\n')[0]}); comparing the stack's resources and last change with Strata's state instead`,
    });
  }
  const now = await stackResources(cfn, state.baseline.stackId);
  const before = new Map(state.resources.map((r) => [r.address, r]));
  for (const r of now) {
    const was = before.get(r.address);
    if (!was)
      found.set(r.address, {
        address: r.address,
        type: r.type,
        change: 'added',
        severity: severityOf(r.type, 'added'),
      });
    else if (was.physicalId !== r.physicalId && !found.has(r.address))
      found.set(r.address, {
        address: r.address,
        type: r.type,
        change: 'modified',
        severity: severityOf(r.type, 'modified'),
      });
  }
  for (const r of state.resources) {
    if (!now.some((n) => n.address === r.address))
      found.set(r.address, {
        address: r.address,
        type: r.type,
        change: 'deleted',
        severity: severityOf(r.type, 'deleted'),
      });
  }
  if (!sameBaseline(await baselineOf(cfn, stack), state.baseline) && found.size === 0) {
    // Someone operated on the stack (an update outside Strata) and nothing finer-grained says what changed.
    found.set(state.stackName, {
      address: state.stackName,
      type: 'AWS::CloudFormation::Stack',
      change: 'modified',
      severity: 'high',
    });
    ctx.log({
      level: 'warn',
      message: `stack ${state.stackName} was changed outside Strata (now ${stack.StackStatus})`,
    });
  }
  const resources = [...found.values()];
  return { scannedAt, drifted: resources.length > 0, resources };
}
