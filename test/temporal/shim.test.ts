/**
 * `npm run temporal -- …` (scripts/temporal.sh): the README's temporal CLI examples as a user runs them after
 * `npm start`. The real pinned CLI, found through tools.env, against a real dev server, with the address and
 * namespace taken from strata.yaml and payloads decoded by the API's codec server.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import YAML from 'yaml';
import { createApp } from '../../src/api/app';
import { dataConverterFor } from '../../src/client';
import { api, TOKENS } from '../helpers/api-client';
import { testConfig, useStrata } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

const SHIM = path.resolve(__dirname, '..', '..', 'scripts', 'temporal.sh');
const config = testConfig({ codec: { keys: [{ id: 'shim-1', key: randomBytes(32).toString('base64') }] } });

describe('scripts/temporal.sh', () => {
  const s = useStrata(config);
  let server: Server;
  let dir: string;
  let port: number;
  let http: ReturnType<typeof api>;

  beforeAll(async () => {
    // The API reads the encrypted payloads the worker writes, as it does in `npm start`.
    const client = new Client({
      connection: s.env.connection,
      namespace: 'default',
      dataConverter: dataConverterFor(config),
    });
    const app = createApp({ temporal: { client }, config });
    http = api(app);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-shim-'));
    // A cache of its own: the shim must find the binary through tools.env, not through anything the test exported.
    fs.mkdirSync(path.join(dir, 'cache'));
    fs.writeFileSync(path.join(dir, 'cache', 'tools.env'), `TEMPORAL_CLI=${toolPath('TEMPORAL_CLI')}\n`);
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  /** Writes a strata.yaml like the repository's (address, namespace, API, codec keys) and runs the shim with it. */
  function shim(
    args: string[],
    yaml: { namespace?: string } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = path.join(dir, `strata-${randomBytes(4).toString('hex')}.yaml`);
    const doc = {
      temporal: { address: s.env.address, namespace: yaml.namespace ?? 'default' },
      api: { host: '127.0.0.1', port },
      codec: { keys: [{ id: 'shim-1', file: 'unused.key' }] },
    };
    fs.writeFileSync(file, YAML.stringify(doc));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      STRATA_CONFIG: file,
      STRATA_CACHE: path.join(dir, 'cache'),
      STRATA_TOKEN: TOKENS.alice,
    };
    for (const k of [
      'TEMPORAL_CLI',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_CODEC_ENDPOINT',
      'TEMPORAL_CODEC_AUTH',
      'STRATA_API',
      'HOST',
      'PORT',
    ])
      delete env[k];
    // No temporal on PATH either: only tools.env can name it.
    env.PATH = (env.PATH ?? '')
      .split(':')
      .filter((p) => !fs.existsSync(path.join(p, 'temporal')))
      .join(':');
    return new Promise((resolve) => {
      execFile('bash', [SHIM, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  it('finds the pinned binary through tools.env', async () => {
    const r = await shim(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^temporal version \d+\.\d+\.\d+/);
  });

  it('runs the README examples against the server and namespace strata.yaml names, decoding payloads', async () => {
    const id = await http.deploy('alice', {
      stack: 'sim-multicloud',
      environment: 'prod',
      variables: { instance_count: 1 },
    });
    await http.waitFor(id, ['awaiting_approval']);

    const list = await shim([
      'workflow',
      'list',
      '--query',
      "StrataStatus = 'awaiting_approval' AND StrataEnvironment = 'prod'",
    ]);
    expect(list.stderr).toBe('');
    expect(list.stdout).toContain(`strata-run/${id}`);

    const query = await shim(['workflow', 'query', '--workflow-id', `strata-run/${id}`, '--type', 'status']);
    expect(query.stderr).toBe('');
    // Decrypted by the codec server: the run's own fields, not ciphertext.
    expect(query.stdout).toMatch(/"status":\s*"awaiting_approval"/);
    expect(query.stdout).toMatch(new RegExp(`"id":\\s*"${id}"`));

    const lock = await shim([
      'workflow',
      'query',
      '--workflow-id',
      'strata-lock/sim-multicloud/prod',
      '--type',
      'lockState',
    ]);
    expect(lock.stdout).toContain(`strata-run/${id}`);

    // The update's input goes out through the codec and the gate answers it. Whether a decision without a Strata
    // signature counts is the gate's policy (approvalSigning): either way the CLI reports the gate's answer.
    const update = await shim([
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      `strata-run/${id}`,
      '--name',
      'approve',
      '--input',
      '{"by":"bob","roles":["approver"],"comment":"lgtm"}',
    ]);
    const approvals = (await http.run(id)).approvals;
    if (update.code === 0) {
      expect(update.stdout).toMatch(/Result\s+map\[approvals:\[map\[.*by:bob comment:lgtm/);
      expect(approvals).toEqual([expect.objectContaining({ by: 'bob', comment: 'lgtm' })]);
    } else {
      expect(update.stderr).toMatch(/unsigned decision/);
      expect(approvals).toEqual([]);
    }
    await http.post('alice', `/api/v1/deployments/${id}/cancel`);
  });

  it('passes the namespace from strata.yaml (a namespace the server lacks is named in the error)', async () => {
    const r = await shim(['workflow', 'list'], { namespace: 'no-such-namespace' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no-such-namespace/);
  });
});
