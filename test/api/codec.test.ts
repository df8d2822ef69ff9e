/**
 * Encrypted history: with codec keys configured, nothing a run carries (variables, plan, outputs) is readable
 * from the Temporal server without the key — not in the raw history, not in `temporal workflow show` — while
 * the codec server decodes it for an operator with a token. Key rotation and older, unencrypted payloads work.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { AesGcmCodec, dataConverterFor, ENCRYPTED_ENCODING } from '../../src/client';
import { deploymentWorkflowId } from '../../src/contracts/runs';
import { api, TOKENS } from '../helpers/api-client';
import { startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

const run = promisify(execFile);
const key = () => ({ id: `k-${randomBytes(3).toString('hex')}`, key: randomBytes(32) });
const json = (v: unknown) => defaultPayloadConverter.toPayload(v)!;
/** The workflow input's bytes as `temporal workflow show --output json` prints them (base64 in JSON). */
const startInput = (out: string): string => {
  const events = (
    JSON.parse(out) as {
      events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { data: string }[] } } }[];
    }
  ).events;
  const started = events.find(
    (e) => e.workflowExecutionStartedEventAttributes,
  )!.workflowExecutionStartedEventAttributes!;
  return Buffer.from(started.input.payloads[0].data, 'base64').toString('latin1');
};

describe('payload codec', () => {
  it('round-trips, authenticates the key id, rotates, and passes plain payloads through', async () => {
    const oldKey = key();
    const newKey = key();
    const before = new AesGcmCodec([oldKey]);
    const [sealed] = await before.encode([json({ secret: 'hunter2' })]);
    expect(Buffer.from(sealed.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(sealed.data!).toString('latin1')).not.toContain('hunter2');

    const after = new AesGcmCodec([newKey, oldKey]);
    const [opened] = await after.decode([sealed]);
    expect(defaultPayloadConverter.fromPayload(opened)).toEqual({ secret: 'hunter2' });
    const [resealed] = await after.encode([json(1)]);
    expect(Buffer.from(resealed.metadata!['encryption-key-id']!).toString()).toBe(newKey.id);

    const plain = json({ started: 'before the codec' });
    expect(await after.decode([plain])).toEqual([plain]);

    const tampered = { ...sealed, data: Uint8Array.from(sealed.data!, (b, i) => (i === 20 ? b ^ 1 : b)) };
    await expect(after.decode([tampered])).rejects.toThrow();
    const relabelled = {
      ...sealed,
      metadata: { ...sealed.metadata, 'encryption-key-id': new TextEncoder().encode(newKey.id) },
    };
    await expect(after.decode([relabelled])).rejects.toThrow();
    await expect(new AesGcmCodec([newKey]).decode([sealed])).rejects.toThrow(/not configured/);
  });

  describe('against a real Temporal server', () => {
    const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-codec-')), 'codec.key');
    const config = testConfig({
      codec: { keys: [{ id: 'local-1', file: keyFile, generate: true }], uiOrigins: ['http://127.0.0.1:8233'] },
    });
    const MARKER = `marker-${randomBytes(6).toString('hex')}`;
    let env: TestWorkflowEnvironment;
    let worker: RunningWorker;
    let client: Client;
    let http: ReturnType<typeof api>;
    let app: ReturnType<typeof createApp>;

    beforeAll(async () => {
      env = await startTemporal();
      worker = await startWorker(env, config);
      client = new Client({
        connection: env.connection,
        namespace: 'default',
        dataConverter: dataConverterFor(config),
      });
      app = createApp({ temporal: { client }, config });
      http = api(app);
    });
    afterAll(async () => {
      await worker?.stop();
      await env?.teardown();
    });

    it('generates the local key once with mode 0600', () => {
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
    });

    it('keeps a run readable through Strata and unreadable in raw history and `temporal workflow show`', async () => {
      const id = await http.deploy('alice', {
        stack: 'sim-multicloud',
        environment: 'dev',
        variables: { instance_count: 2, image: MARKER },
      });
      await http.waitFor(id, ['succeeded']);

      const history = await env.client.workflow.getHandle(deploymentWorkflowId(id)).fetchHistory();
      const raw = JSON.stringify(history);
      expect(raw.length).toBeGreaterThan(1000);
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      for (const needle of [MARKER, b64(MARKER), 'instance_count', b64('"instance_count"')])
        expect(raw).not.toContain(needle);

      const cli = toolPath('TEMPORAL_CLI');
      const address = `${env.connection.options.address}`;
      const show = await run(cli, [
        'workflow',
        'show',
        '--address',
        address,
        '--workflow-id',
        deploymentWorkflowId(id),
        '--output',
        'json',
      ]);
      expect(show.stdout.length).toBeGreaterThan(1000);
      expect(show.stdout).not.toContain(MARKER);
      expect(startInput(show.stdout)).not.toContain(MARKER);

      // Through the codec server, with a viewer's token, an operator reads it.
      const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
        const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
      });
      try {
        const port = (server.address() as AddressInfo).port;
        const decoded = await run(cli, [
          'workflow',
          'show',
          '--address',
          address,
          '--workflow-id',
          deploymentWorkflowId(id),
          '--output',
          'json',
          '--codec-endpoint',
          `http://127.0.0.1:${port}/codec`,
          '--codec-auth',
          `Bearer ${TOKENS.alice}`,
        ]);
        expect(startInput(decoded.stdout)).toContain(MARKER);
      } finally {
        server.close();
      }
    });

    it('codec server: token required, CORS only for the UI origin, bad payloads are a 400', async () => {
      const [sealed] = await new AesGcmCodec([
        { id: 'local-1', key: Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64') },
      ]).encode([json({ a: MARKER })]);
      const body = {
        payloads: [
          {
            metadata: Object.fromEntries(
              Object.entries(sealed.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
            ),
            data: Buffer.from(sealed.data!).toString('base64'),
          },
        ],
      };
      expect((await request(app).post('/codec/decode').send(body)).status).toBe(401);
      const ok = await request(app)
        .post('/codec/decode')
        .set('Authorization', `Bearer ${TOKENS.alice}`)
        .set('Origin', 'http://127.0.0.1:8233')
        .send(body);
      expect(ok.status).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe('http://127.0.0.1:8233');
      expect(Buffer.from(ok.body.payloads[0].data, 'base64').toString()).toContain(MARKER);
      const preflight = await request(app).options('/codec/decode').set('Origin', 'http://evil.example');
      expect(preflight.status).toBe(403);
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      const broken = {
        payloads: [{ ...body.payloads[0], data: Buffer.from('garbage-garbage-garbage-garbage').toString('base64') }],
      };
      const bad = await request(app).post('/codec/decode').set('Authorization', `Bearer ${TOKENS.alice}`).send(broken);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    });
  });
});
