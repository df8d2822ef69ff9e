/**
 * Blue-green on AWS: blue (stable) and green (new) are Auto Scaling groups, and traffic is the pair of weighted
 * Route53 records of one name (SetIdentifier per colour). Every change sets absolute desired values (capacity,
 * then both weights in one change batch), so a retried activity lands in the same place.
 */
import {
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  ChangeResourceRecordSetsCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsFailoverClients } from '../cloud/aws/clients';
import type { AwsRolloutTarget, TrafficSnapshot } from '../../contracts/rollout';
import { ErrorCode } from '../../shared/errors';

const norm = (n: string) => n.replace(/\.$/, '').toLowerCase();

function misconfigured(message: string): never {
  throw ApplicationFailure.create({ type: ErrorCode.VALIDATION_FAILED, message, nonRetryable: true });
}

export function createAwsTraffic(clients: AwsFailoverClients) {
  const asg = async (t: AwsRolloutTarget, name: string): Promise<AutoScalingGroup> => {
    const r = await clients
      .autoScaling(t.region)
      .send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    return r.AutoScalingGroups?.[0] ?? misconfigured(`Auto Scaling group ${name} not found in ${t.region}`);
  };

  const zoneId = async (t: AwsRolloutTarget): Promise<string> => {
    if (t.hostedZone.startsWith('/hostedzone/') || /^Z[A-Z0-9]{6,}$/.test(t.hostedZone)) return t.hostedZone;
    const res = await clients.route53().send(new ListHostedZonesByNameCommand({ DNSName: t.hostedZone }));
    return (
      res.HostedZones?.find((z) => norm(z.Name ?? '') === norm(t.hostedZone))?.Id ??
      misconfigured(`Route53 hosted zone ${t.hostedZone} not found`)
    );
  };

  const records = async (t: AwsRolloutTarget) => {
    const id = await zoneId(t);
    const res = await clients
      .route53()
      .send(new ListResourceRecordSetsCommand({ HostedZoneId: id, StartRecordName: t.recordName, MaxItems: 100 }));
    const of = (setIdentifier: string): ResourceRecordSet =>
      res.ResourceRecordSets?.find(
        (r) => norm(r.Name ?? '') === norm(t.recordName) && r.SetIdentifier === setIdentifier && r.Weight !== undefined,
      ) ?? misconfigured(`no weighted record ${t.recordName} with SetIdentifier ${setIdentifier}`);
    return { zoneId: id, blue: of(t.blue.setIdentifier), green: of(t.green.setIdentifier) };
  };

  const scale = async (t: AwsRolloutTarget, name: string, desired: number) => {
    const a = await asg(t, name);
    if (a.DesiredCapacity === desired) return;
    await clients.autoScaling(t.region).send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: Math.min(a.MinSize ?? 0, desired),
        MaxSize: Math.max(a.MaxSize ?? desired, desired),
        DesiredCapacity: desired,
      }),
    );
  };

  /** Both weights in one change batch: Route53 applies it atomically, so the shares always sum to 100. */
  const weigh = async (t: AwsRolloutTarget, green: number, comment: string) => {
    const r = await records(t);
    await clients.route53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: r.zoneId,
        ChangeBatch: {
          Comment: comment,
          Changes: [
            { Action: 'UPSERT', ResourceRecordSet: { ...r.blue, Weight: 100 - green } },
            { Action: 'UPSERT', ResourceRecordSet: { ...r.green, Weight: green } },
          ],
        },
      }),
    );
  };

  const snapshot = async (t: AwsRolloutTarget): Promise<TrafficSnapshot> => {
    const [blue, green, r] = await Promise.all([asg(t, t.blue.asg), asg(t, t.green.asg), records(t)]);
    return {
      stable: { version: t.blue.setIdentifier, capacity: blue.DesiredCapacity ?? 0, weight: r.blue.Weight ?? 0 },
      candidate: { version: t.green.setIdentifier, capacity: green.DesiredCapacity ?? 0, weight: r.green.Weight ?? 0 },
    };
  };

  return {
    snapshot,
    async applyStep(
      t: AwsRolloutTarget,
      s: { weight: number; candidateCapacity: number; stableCapacity: number; rolloutId: string },
    ) {
      // Capacity first: green never takes a share it has no instances for, blue never loses instances it serves from.
      await scale(t, t.green.asg, s.candidateCapacity);
      if (s.weight > 0) await scale(t, t.blue.asg, s.stableCapacity);
      await weigh(t, s.weight, `strata rollout ${s.rolloutId}: ${s.weight} % to ${t.green.setIdentifier}`);
      return snapshot(t);
    },
    async revert(t: AwsRolloutTarget, s: { stableCapacity: number; rolloutId: string }) {
      const blue = await asg(t, t.blue.asg);
      await scale(t, t.blue.asg, Math.max(blue.DesiredCapacity ?? 0, s.stableCapacity));
      await weigh(t, 0, `strata rollout ${s.rolloutId}: aborted, all traffic to ${t.blue.setIdentifier}`);
      await scale(t, t.green.asg, 0);
      return snapshot(t);
    },
    async finalize(t: AwsRolloutTarget, s: { rolloutId: string }) {
      await weigh(t, 100, `strata rollout ${s.rolloutId}: ${t.green.setIdentifier} is stable`);
      await scale(t, t.blue.asg, 0);
      return snapshot(t);
    },
  };
}
