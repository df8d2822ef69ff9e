/**
 * The group's global state as one DynamoDB item (`group` is the hash key). Every write is conditional, so two
 * failovers of one group can never hold the lock at once and an epoch is never incremented twice.
 *
 * Item: group, activeSide, epoch (N), lockOwner, lockExpiresAt (N, epoch ms), intent (JSON), lastFailoverId,
 * history (JSON, last 20), attention (JSON, set by a failover that ended part-way), replicationCheckpointAt (ISO; written by the replication canary), updatedAt.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import type { FailoverSide } from '../../../contracts/failover';
import type { FailoverGroupConfig } from '../../../shared/config';
import { ErrorCode } from '../../../shared/errors';
import {
  LockExpiredError,
  LockHeldError,
  type FailoverAttention,
  type FailoverHistoryEntry,
  type FailoverIntent,
  type GlobalState,
  type GroupRef,
} from '../failover-cloud';

const MAX_HISTORY = 20;

type Item = Record<string, AttributeValue>;

const S = (v: string): AttributeValue => ({ S: v });
const N = (v: number): AttributeValue => ({ N: String(v) });

function parse(group: string, item: Item | undefined): GlobalState {
  const json = <T>(k: string, d: T): T => (item?.[k]?.S ? (JSON.parse(item[k].S!) as T) : d);
  const owner = item?.lockOwner?.S;
  const exp = item?.lockExpiresAt?.N;
  return {
    group,
    activeSide: (item?.activeSide?.S as FailoverSide | undefined) ?? 'primary',
    epoch: Number(item?.epoch?.N ?? 0),
    lock: owner ? { owner, expiresAt: new Date(Number(exp ?? 0)).toISOString() } : undefined,
    intent: json<FailoverIntent | undefined>('intent', undefined),
    lastFailoverId: item?.lastFailoverId?.S,
    history: json<FailoverHistoryEntry[]>('history', []),
    attention: json<FailoverAttention | undefined>('attention', undefined),
    replicationCheckpointAt: item?.replicationCheckpointAt?.S,
  };
}

export interface GlobalStateTable {
  read(): Promise<GlobalState>;
  acquire(owner: string, ttlMs: number, intent?: FailoverIntent): Promise<GlobalState>;
  release(owner: string): Promise<boolean>;
  commit(
    owner: string,
    entry: Omit<FailoverHistoryEntry, 'epoch'>,
    attention?: FailoverAttention,
  ): Promise<GlobalState>;
}

/**
 * Where a group's global state lives: `globalStateRegion`, by default the secondary's region. The primary's is
 * the region an emergency failover abandons, and the state must stay readable exactly then.
 */
export function globalStateRegionOf(cfg: FailoverGroupConfig): string {
  return cfg.globalStateRegion ?? cfg.secondary.region;
}

async function getItem(db: DynamoDBClient, TableName: string, Key: Item): Promise<Item | undefined> {
  try {
    return (await db.send(new GetItemCommand({ TableName, Key, ConsistentRead: true }))).Item;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

/**
 * The table of one group in `globalStateRegionOf(cfg)`. `formerDefault` is the primary's region client when no
 * region is configured: releases before the default moved kept the state there, and a group whose state is
 * only found there is refused (CONFIG_INVALID) rather than started afresh at epoch 0 beside it.
 */
export function globalStateTable(
  db: DynamoDBClient,
  g: GroupRef,
  opts: { createTableIfMissing?: boolean; formerDefault?: DynamoDBClient } = {},
): GlobalStateTable {
  const TableName = g.cfg.globalStateTable;
  const Key = { group: S(g.name) };

  async function read(): Promise<GlobalState> {
    const item = await getItem(db, TableName, Key);
    if (!item && opts.formerDefault) await refuseFormerDefault(opts.formerDefault);
    return parse(g.name, item);
  }

  async function refuseFormerDefault(former: DynamoDBClient): Promise<void> {
    // Unreachable (the primary's region is down, the usual emergency) means no answer: go on with the new default.
    const old = await getItem(former, TableName, Key).catch(() => undefined);
    if (!old) return;
    const { primary, secondary } = g.cfg;
    throw ApplicationFailure.create({
      type: ErrorCode.CONFIG_INVALID,
      message: `the global state of failover group ${g.name} is in ${primary.region} (the former default region) and not in ${secondary.region} (the default now): set globalStateRegion: ${primary.region} for the group in strata.yaml, or move the item of table ${TableName} to ${secondary.region}`,
      nonRetryable: true,
    });
  }

  /** Creates the table on first use (PAY_PER_REQUEST): Strata's own state, like a Terraform lock table. */
  async function ensureTable(): Promise<void> {
    try {
      await db.send(
        new CreateTableCommand({
          TableName,
          KeySchema: [{ AttributeName: 'group', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'group', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (err) {
      if ((err as Error).name !== 'ResourceInUseException') throw err;
    }
    for (let i = 0; i < 60; i++) {
      const d = await db.send(new DescribeTableCommand({ TableName }));
      if (d.Table?.TableStatus === 'ACTIVE') return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`DynamoDB table ${TableName} did not become ACTIVE`);
  }

  async function withTable<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException) || opts.createTableIfMissing === false) throw err;
      await ensureTable();
      return fn();
    }
  }

  return {
    read,

    async acquire(owner, ttlMs, intent) {
      const now = Date.now();
      const values: Item = {
        ':o': S(owner),
        ':exp': N(now + ttlMs),
        ':now': N(now),
        ':ts': S(new Date(now).toISOString()),
        ':primary': S('primary'),
        ':zero': N(0),
      };
      if (intent) values[':intent'] = S(JSON.stringify(intent));
      try {
        const r = await withTable(() =>
          db.send(
            new UpdateItemCommand({
              TableName,
              Key,
              UpdateExpression: `SET lockOwner = :o, lockExpiresAt = :exp, updatedAt = :ts, activeSide = if_not_exists(activeSide, :primary), epoch = if_not_exists(epoch, :zero)${intent ? ', intent = :intent' : ''}`,
              // Free, expired, or already ours (a renewal or a retried call).
              ConditionExpression: 'attribute_not_exists(lockOwner) OR lockOwner = :o OR lockExpiresAt < :now',
              ExpressionAttributeValues: values,
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return parse(g.name, r.Attributes);
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        const s = await read();
        throw new LockHeldError(s.lock?.owner, s.lock?.expiresAt);
      }
    },

    async release(owner) {
      try {
        await db.send(
          new UpdateItemCommand({
            TableName,
            Key,
            UpdateExpression: 'REMOVE lockOwner, lockExpiresAt, intent SET updatedAt = :ts',
            ConditionExpression: 'lockOwner = :o',
            ExpressionAttributeValues: { ':o': S(owner), ':ts': S(new Date().toISOString()) },
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException || err instanceof ResourceNotFoundException) return false;
        throw err;
      }
    },

    async commit(owner, entry, attention) {
      const s = await read();
      if (s.lastFailoverId === entry.failoverId) return s; // a retried commit: the epoch moved already
      const epoch = s.epoch + 1;
      const history = [...s.history, { ...entry, epoch }].slice(-MAX_HISTORY);
      const values: Item = attention ? { ':att': S(JSON.stringify(attention)) } : {};
      try {
        await db.send(
          new UpdateItemCommand({
            TableName,
            Key,
            UpdateExpression: `SET activeSide = :to, epoch = :epoch, lastFailoverId = :id, history = :h, updatedAt = :ts${attention ? ', attention = :att REMOVE intent' : ' REMOVE intent, attention'}`,
            // Only the holder of an unexpired lock commits, and only on top of the epoch it read (no lost update).
            ConditionExpression: 'lockOwner = :o AND lockExpiresAt >= :now AND epoch = :prev',
            ExpressionAttributeValues: {
              ':to': S(entry.to),
              ':epoch': N(epoch),
              ':prev': N(s.epoch),
              ':id': S(entry.failoverId),
              ':h': S(JSON.stringify(history)),
              ':ts': S(new Date().toISOString()),
              ':o': S(owner),
              ':now': N(Date.now()),
              ...values,
            },
          }),
        );
        return {
          ...s,
          activeSide: entry.to,
          epoch,
          lastFailoverId: entry.failoverId,
          history,
          intent: undefined,
          attention,
        };
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        const now = await read();
        if (now.lastFailoverId === entry.failoverId) return now;
        if (now.lock?.owner === owner) throw new LockExpiredError(owner, now.lock.expiresAt);
        throw new LockHeldError(now.lock?.owner, now.lock?.expiresAt);
      }
    },
  };
}
