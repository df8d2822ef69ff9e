/**
 * Real authentication: hashed static tokens, OIDC/JWT (HS256 and RS256 against a JWKS file) with issuer,
 * audience, expiry and signature checks, claims mapped to roles, roles granted per environment — enforced by
 * the API and, for approvals, by the workflow's gate — plus per-caller rate limits and security headers.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { testConfig, useStrata } from '../helpers/temporal';

const SECRET = 'a-test-only-hs256-secret-of-enough-length-0123456789';
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'strata-api';

async function hs256(
  claims: Record<string, unknown>,
  opts: { exp?: string | number; iss?: string; aud?: string; secret?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setExpirationTime(opts.exp ?? '5m')
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

describe('authentication', () => {
  const erin = 'erin-staging-approver-token';
  const config = testConfig({
    auth: {
      tokens: [
        { token: 'alice-deployer-dev-token', subject: 'alice', roles: ['deployer', 'viewer'] },
        {
          sha256: createHash('sha256').update('bob-approver-dev-token').digest('hex'),
          subject: 'bob',
          roles: ['approver', 'viewer'],
        },
        { token: 'carol-admin-dev-token', subject: 'carol', roles: ['admin'] },
        { token: 'dave-approver-dev-token', subject: 'dave', roles: ['approver', 'viewer'] },
        {
          sha256: createHash('sha256').update(erin).digest('hex'),
          subject: 'erin',
          roles: ['viewer'],
          environments: { staging: ['approver'] },
        },
      ],
      jwt: {
        issuer: ISSUER,
        audience: AUDIENCE,
        hs256Secret: SECRET,
        roleMap: { 'platform-team': 'deployer', 'change-board': 'approver' },
        environmentRolesClaim: 'strata_env_roles',
      },
      rateLimitPerMinute: 0,
    },
  });
  const s = useStrata(config);
  const app = () => createApp({ temporal: { client: s.env.client }, config });
  const get = (token: string, url = '/api/v1/stacks') =>
    request(app()).get(url).set('Authorization', `Bearer ${token}`);

  it('accepts a token stored only as its SHA-256', async () => {
    expect((await get('bob-approver-dev-token')).status).toBe(200);
    expect((await get('bob-approver-dev-token-not')).status).toBe(401);
  });

  it('JWT: valid → 200; expired, wrong issuer, wrong audience, bad signature, no exp → 401 naming why', async () => {
    expect((await get(await hs256({ sub: 'frank', roles: ['viewer'] }))).status).toBe(200);
    const cases: [string, string, RegExp][] = [
      [
        'expired',
        await hs256({ sub: 'frank', roles: ['viewer'] }, { exp: Math.floor(Date.now() / 1000) - 3600 }),
        /expired/,
      ],
      ['issuer', await hs256({ sub: 'frank', roles: ['viewer'] }, { iss: 'https://evil.example' }), /iss/],
      ['audience', await hs256({ sub: 'frank', roles: ['viewer'] }, { aud: 'someone-else' }), /aud/],
      [
        'signature',
        await hs256({ sub: 'frank', roles: ['viewer'] }, { secret: 'another-secret-that-is-long-enough-0123456789' }),
        /signature/,
      ],
      [
        'no exp',
        await new SignJWT({ sub: 'frank', roles: ['viewer'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .sign(new TextEncoder().encode(SECRET)),
        /claim|exp/,
      ],
    ];
    for (const [what, token, why] of cases) {
      const res = await get(token);
      expect([what, res.status]).toEqual([what, 401]);
      expect(res.body.error.code).toBe('UNAUTHENTICATED');
      expect(res.body.error.message).toMatch(why);
    }
  });

  it('JWT claims map to roles: a mapped group may deploy, an unmapped one gets 403', async () => {
    const deployer = await hs256({ sub: 'gina', roles: ['platform-team'] });
    const res = await request(app())
      .post('/api/v1/deployments')
      .set('Authorization', `Bearer ${deployer}`)
      .send({ stack: 'sim-multicloud', environment: 'dev', dryRun: true });
    expect(res.status).toBe(202);
    const nobody = await hs256({ sub: 'hank', roles: ['marketing'] });
    expect(
      (
        await request(app())
          .post('/api/v1/deployments')
          .set('Authorization', `Bearer ${nobody}`)
          .send({ stack: 'sim-multicloud', environment: 'dev', dryRun: true })
      ).status,
    ).toBe(403);
  });

  it('per-environment grants: deployer for dev only is refused in prod; approver for staging only cannot approve prod', async () => {
    const devOnly = await hs256({ sub: 'ivan', roles: ['viewer'], strata_env_roles: { dev: ['deployer'] } });
    const post = (token: string, environment: string) =>
      request(app())
        .post('/api/v1/deployments')
        .set('Authorization', `Bearer ${token}`)
        .send({ stack: 'sim-multicloud', environment, dryRun: true });
    expect((await post(devOnly, 'dev')).status).toBe(202);
    const refused = await post(devOnly, 'prod');
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/prod/);

    const id = await s.http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 1 },
    });
    await s.http.waitFor(id, ['awaiting_approval']);
    const byErin = await request(app())
      .post(`/api/v1/deployments/${id}/approve`)
      .set('Authorization', `Bearer ${erin}`)
      .send({});
    expect(byErin.status).toBe(403);
    const board = await hs256({ sub: 'judy', roles: ['change-board'] });
    const byJudy = await request(app())
      .post(`/api/v1/deployments/${id}/approve`)
      .set('Authorization', `Bearer ${board}`)
      .send({});
    expect(byJudy.status).toBe(200);
    expect(byJudy.body.approvals.map((a: { by: string }) => a.by)).toEqual(['judy']);
    await s.http.post('carol', `/api/v1/deployments/${id}/reject`, { reason: 'test over' });
  });

  it('RS256 against a JWKS file', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-jwks-')), 'jwks.json');
    fs.writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const rsConfig = testConfig({ auth: { tokens: [], jwt: { issuer: ISSUER, audience: AUDIENCE, jwksFile: file } } });
    const rsApp = createApp({ temporal: { client: s.env.client }, config: rsConfig });
    const token = await new SignJWT({ sub: 'kim', roles: ['viewer'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await request(rsApp).get('/api/v1/stacks').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    const other = await generateKeyPair('RS256');
    const forged = await new SignJWT({ sub: 'kim', roles: ['admin'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(other.privateKey);
    expect((await request(rsApp).get('/api/v1/stacks').set('Authorization', `Bearer ${forged}`)).status).toBe(401);
    const hsAgainstRs = await hs256({ sub: 'kim', roles: ['admin'] });
    expect((await request(rsApp).get('/api/v1/stacks').set('Authorization', `Bearer ${hsAgainstRs}`)).status).toBe(401);
  });

  it('rate-limits mutating requests per caller with 429 and Retry-After; reads are not limited', async () => {
    const limited = createApp({
      temporal: { client: s.env.client },
      config: { ...config, auth: { ...config.auth, rateLimitPerMinute: 6 } },
    });
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await request(limited)
        .post('/api/v1/deployments')
        .set('Authorization', 'Bearer alice-deployer-dev-token')
        .send({ stack: 'sim-multicloud', environment: 'dev', dryRun: true, idempotencyKey: 'rate-limit-probe' });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers['retry-after'];
    }
    expect(statuses.slice(0, 5).every((st) => st === 202)).toBe(true);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(
      (await request(limited).get('/api/v1/stacks').set('Authorization', 'Bearer alice-deployer-dev-token')).status,
    ).toBe(200);
  });

  it('sets security headers', async () => {
    const res = await request(app()).get('/health');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });
});
