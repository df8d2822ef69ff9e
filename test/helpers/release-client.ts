/** Release calls over the test API, with a poll for release statuses. */
import { TERMINAL_RELEASE_STATUSES, type Release, type ReleaseStatus } from '../../src/contracts/release';
import type { api, User } from './api-client';

export function releases(http: ReturnType<typeof api>) {
  return {
    async start(user: User, body: Record<string, unknown>): Promise<string> {
      const res = await http.post(user, '/api/v1/releases', body);
      if (res.status !== 202) throw new Error(`release failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },

    async get(id: string): Promise<Release> {
      const res = await http.get('alice', `/api/v1/releases/${id}`);
      if (res.status !== 200) throw new Error(`GET release ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as Release;
    },

    /** Polls until the release reaches one of `statuses`; fails at once if it ends in another. */
    async waitFor(id: string, statuses: ReleaseStatus[], timeoutMs = 120_000): Promise<Release> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await this.get(id);
        if (statuses.includes(r.status)) return r;
        if (TERMINAL_RELEASE_STATUSES.includes(r.status)) {
          throw new Error(
            `release ${id} ended ${r.status}, expected ${statuses.join('|')}: ${JSON.stringify({ error: r.error, stacks: r.stacks.map((s) => [s.stack, s.status, s.error, s.reason]), events: r.events.slice(-8) })}`,
          );
        }
        if (Date.now() > deadline)
          throw new Error(`release ${id} still ${r.status} after ${timeoutMs} ms, expected ${statuses.join('|')}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    },
  };
}
