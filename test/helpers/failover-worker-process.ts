/**
 * A failover worker in its own process, for the test that SIGKILLs a worker mid-promotion. Real RDS takes
 * minutes to promote; moto finishes at once, so once PromoteReadReplica went out this worker's RDS client
 * reports the replica as `modifying` and the promotion activity keeps waiting (and heartbeating) until killed.
 *
 * Env: TEMPORAL_ADDRESS, TASK_QUEUE, STRATA_WORKFLOW_BUNDLE, FO_GROUP_NAME, FO_GROUP (JSON config),
 * FO_COUNTER (file: one line per PromoteReadReplica sent), FO_MARKER (file written once the wait began).
 * Run: node --import tsx test/helpers/failover-worker-process.ts
 */
import fs from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createAwsClients } from '../../src/activities/cloud/aws';
import { createFailoverActivities } from '../../src/activities/cloud/failover-activities';
import { createDecisionActivities } from '../../src/activities/auth';
import { parseConfig, type FailoverGroupConfig } from '../../src/shared/config';
import path from 'node:path';

async function main(): Promise<void> {
  const env = process.env;
  const name = env.FO_GROUP_NAME!;
  const group = JSON.parse(env.FO_GROUP!) as FailoverGroupConfig;
  const clients = createAwsClients({
    endpoint: group.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  let promoted = false;
  clients.rds(group.secondary.region).middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PromoteReadReplicaCommand') {
        fs.appendFileSync(env.FO_COUNTER!, `promote ${process.pid}\n`);
        promoted = true;
      }
      const out = await next(args);
      if (promoted && context.commandName === 'DescribeDBInstancesCommand') {
        const o = out.output as { DBInstances?: { DBInstanceStatus?: string }[] };
        for (const db of o.DBInstances ?? []) db.DBInstanceStatus = 'modifying';
        fs.writeFileSync(env.FO_MARKER!, 'promoting');
      }
      return out;
    },
    { step: 'initialize', name: 'slowPromotion' },
  );
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS! });
  const worker = await Worker.create({
    connection,
    taskQueue: env.TASK_QUEUE!,
    workflowBundle: { codePath: env.STRATA_WORKFLOW_BUNDLE! },
    activities: {
      ...createFailoverActivities({
        groups: { [name]: group },
        aws: () => clients,
        awsOptions: { pollIntervalMs: 200, promotionLinkGraceMs: 0 },
        healthPollIntervalMs: 200,
      }),
      // The signer keys every test process of this checkout shares (keysDir), as the test API uses.
      ...createDecisionActivities({
        config: parseConfig({ environments: {}, stacks: {} }, path.resolve(__dirname, '..', '..'), {}),
      }),
    },
  });
  process.stdout.write('ready\n');
  await worker.run();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
