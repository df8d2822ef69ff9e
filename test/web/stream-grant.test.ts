/**
 * The grant that lets a browser's EventSource open a run's live log: minted for one caller and one run, signed,
 * short-lived, carried in an HttpOnly cookie scoped to that log path, and accepted nowhere else.
 */
import express from 'express';
import request from 'supertest';
import { randomBytes } from 'node:crypto';
import { errorHandler } from '../../src/api/http-errors';
import {
  bearerOrStreamGrant,
  mintStreamGrant,
  STREAM_GRANT_TTL_MS,
  verifyStreamGrant,
} from '../../src/api/web/stream-token';

const key = randomBytes(32);
const alice = { subject: 'alice', roles: ['viewer' as const] };

describe('stream grants', () => {
  it('verifies for its own run until it expires, and not for another run, another key or an altered body', () => {
    const now = Date.now();
    const { value } = mintStreamGrant(alice, 'd-1', key, now);
    expect(verifyStreamGrant(value, 'd-1', key, now + 1000)).toMatchObject({
      ok: true,
      principal: { subject: 'alice', roles: ['viewer'] },
    });
    expect(verifyStreamGrant(value, 'd-2', key, now)).toEqual({
      ok: false,
      reason: 'stream grant is for run d-1, not d-2',
    });
    expect(verifyStreamGrant(value, 'd-1', key, now + STREAM_GRANT_TTL_MS + 1)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/expired/),
    });
    expect(verifyStreamGrant(value, 'd-1', randomBytes(32), now)).toMatchObject({
      ok: false,
      reason: 'stream grant does not verify',
    });
    const [body, sig] = value.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), roles: ['admin'] }),
    ).toString('base64url');
    expect(verifyStreamGrant(`${forged}.${sig}`, 'd-1', key, now)).toMatchObject({ ok: false });
    expect(verifyStreamGrant('garbage', 'd-1', key, now)).toMatchObject({ ok: false });
  });

  it("authenticates only GETs of that run's log path; everything else still needs the bearer token", async () => {
    const app = express();
    const bearer: express.RequestHandler = (req, res, next) =>
      req.headers.authorization === 'Bearer ok'
        ? next()
        : res.status(401).json({ error: { code: 'UNAUTHENTICATED', message: 'bearer' } });
    app.use('/api/v1', bearerOrStreamGrant(bearer, key));
    app.all('/api/v1/*rest', (req, res) => res.json({ who: req.principal?.subject ?? 'bearer' }));
    app.use(errorHandler);
    const cookie = `strata_stream=${mintStreamGrant(alice, 'd-1', key).value}`;
    expect((await request(app).get('/api/v1/deployments/d-1/logs').set('Cookie', cookie)).body).toEqual({
      who: 'alice',
    });
    expect((await request(app).get('/api/v1/deployments/d-2/logs').set('Cookie', cookie)).status).toBe(401);
    expect((await request(app).get('/api/v1/deployments/d-1').set('Cookie', cookie)).status).toBe(401);
    expect((await request(app).post('/api/v1/deployments/d-1/approve').set('Cookie', cookie)).status).toBe(401);
    expect((await request(app).get('/api/v1/deployments/d-1/logs')).status).toBe(401);
    expect((await request(app).get('/api/v1/deployments/d-1/logs').set('Authorization', 'Bearer ok')).body).toEqual({
      who: 'bearer',
    });
  });
});
