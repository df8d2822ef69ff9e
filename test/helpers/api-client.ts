/** Small supertest wrapper speaking as the demo users, with polling helpers for run statuses. */
import request from 'supertest';
import type { Express } from 'express';
import { TERMINAL_STATUSES, type Deployment, type DeploymentStatus } from '../../src/contracts/runs';
import { poll } from './poll';

export const TOKENS = {
  alice: 'alice-deployer-dev-token',
  bob: 'bob-approver-dev-token',
  carol: 'carol-admin-dev-token',
  dave: 'dave-approver-dev-token',
} as const;
export type User = keyof typeof TOKENS;

export function api(app: Express) {
  const as = (user: User) => ({ Authorization: `Bearer ${TOKENS[user]}` });
  return {
    get: (user: User, url: string) => request(app).get(url).set(as(user)),
    post: (user: User, url: string, body: object = {}) => request(app).post(url).set(as(user)).send(body),

    async deploy(user: User, body: Record<string, unknown>): Promise<string> {
      const res = await request(app).post('/api/v1/deployments').set(as(user)).send(body);
      if (res.status !== 202) throw new Error(`deploy failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },

    async run(id: string): Promise<Deployment> {
      const res = await request(app).get(`/api/v1/deployments/${id}`).set(as('alice'));
      if (res.status !== 200) throw new Error(`GET run ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as Deployment;
    },

    /** Polls until the run reaches one of `statuses`; fails at once if it ends in another terminal status. */
    async waitFor(id: string, statuses: DeploymentStatus[], timeoutMs = 90_000): Promise<Deployment> {
      let last: Deployment | undefined;
      return poll(
        async () => {
          const d = (last = await this.run(id));
          if (TERMINAL_STATUSES.includes(d.status) && !statuses.includes(d.status)) {
            throw new Error(
              `run ${id} ended ${d.status}, expected ${statuses.join('|')}: ${JSON.stringify({ error: d.error, events: d.events.slice(-6) })}`,
            );
          }
          return statuses.includes(d.status) && d;
        },
        {
          what: () => `run ${id} to reach ${statuses.join('|')} (still ${last?.status})`,
          timeoutMs,
          everyMs: 200,
          errors: 'throw',
        },
      );
    },
  };
}
