/**
 * Secrets by reference (promise 4): a variable given as `{ secret: NAME }` is resolved only inside the activity that
 * runs the tool. Planted secret values are looked for everywhere Strata writes: the worker's and the API's logs
 * (pino to a file, the Temporal SDK's logger), run logs, every API response, the Slack stub's messages, every file
 * under the artifacts and state dirs, and `temporal workflow show` of every workflow (plain payloads, and through
 * the codec server with encrypted ones) — while the tool provably received the right value.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../src/api/app';
import { dataConverterFor } from '../../src/client';
import { api, TOKENS } from '../helpers/api-client';
import { eventually, startTemporal, startWorker, testConfig, type RunningWorker } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

const run = promisify(execFile);
const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

// Value-looking secrets, unique to this run, so a hit anywhere can only be a leak.
const DB_SECRET = `pw-${randomBytes(12).toString('hex')}-Zq9`;
const SIM_SECRET = `tok-${randomBytes(12).toString('hex')}-Xk4`;
const CODEC_SECRET = `cdc-${randomBytes(12).toString('hex')}-Wm2`;
const SECRETS = [DB_SECRET, SIM_SECRET, CODEC_SECRET];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-secrets-'));
const secretsFile = path.join(tmp, 'secrets.env');
fs.writeFileSync(secretsFile, `# planted for the test\nDB_PASSWORD="${DB_SECRET}"\n`, { mode: 0o600 });
const outDir = path.join(tmp, 'out');
// The simulated cases resolve from the worker's environment (this process).
process.env.STRATA_TEST_SIM_TOKEN = SIM_SECRET;
process.env.STRATA_TEST_CODEC_TOKEN = CODEC_SECRET;
// Everything pino writes (the API's request logs; the worker process uses the same logger) goes to this file.
const logFile = path.join(tmp, 'pino.log');
process.env.LOG_LEVEL = 'trace';
process.env.STRATA_LOG_FILE = logFile;
// And everything the Temporal SDK logs in this process (activity failures carry the error message).
const sdkLog: string[] = [];
Runtime.install({
  logger: new DefaultLogger('TRACE', (e) =>
    sdkLog.push(JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? String(v) : v))),
  ),
});

/** Every base64 `data` field of a `temporal workflow show --output json` document, decoded. */
function decodedPayloads(doc: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'data' && typeof x === 'string') out.push(Buffer.from(x, 'base64').toString('latin1'));
        else walk(x);
      }
    }
  };
  walk(doc);
  return out;
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** A file's bytes, and for a zip (a saved tofu plan) the bytes of its members too. */
async function contentOf(file: string): Promise<string> {
  const raw = fs.readFileSync(file);
  if (raw.subarray(0, 2).toString('latin1') !== 'PK') return raw.toString('latin1');
  const unzipped = await run('unzip', ['-p', file], { encoding: 'latin1', maxBuffer: 64 << 20 });
  return raw.toString('latin1') + unzipped.stdout;
}

const leaksIn = (text: string) =>
  SECRETS.filter((s) => text.includes(s) || text.includes(Buffer.from(s).toString('base64')));

describe('secrets by reference', () => {
  let stub: http.Server;
  const posted: unknown[] = [];
  let env: TestWorkflowEnvironment;
  let worker: RunningWorker;
  let codecWorker: RunningWorker;
  let h: ReturnType<typeof api>;
  let codecApp: ReturnType<typeof createApp>;
  let hc: ReturnType<typeof api>;
  /** Every API response body of the test, to be searched at the end. */
  const responses: string[] = [];
  const stacks = {
    'tofu-secret': { executor: 'tofu', path: path.join(FIXTURES, 'tofu-secret'), variables: { output_dir: outDir } },
    'sim-secret': { executor: 'simulated', path: path.join(FIXTURES, 'sim-secret') },
    // The codec world's own name: two worlds on one server must not share a stack lock workflow. Its reference is
    // given in strata.yaml's stack variables, not in the request.
    'sim-secret-codec': {
      executor: 'simulated',
      path: path.join(FIXTURES, 'sim-secret'),
      variables: { db_password: { secret: 'STRATA_TEST_CODEC_TOKEN' } },
    },
  };
  let config: ReturnType<typeof testConfig>;
  const codecConfig = testConfig({
    stacks,
    codec: { keys: [{ id: 'secrets-test', file: path.join(tmp, 'codec.key'), generate: true }] },
  });
  const runIds: string[] = [];

  const get = async (user: 'alice' | 'bob', url: string, via = () => h) => {
    const res = await via().get(user, url);
    responses.push(JSON.stringify(res.body), res.text ?? '');
    return res;
  };

  beforeAll(async () => {
    stub = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        posted.push({ url: req.url, body: data });
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ ok: true, ts: '1.2' }));
      });
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    config = testConfig({
      stacks,
      secrets: { fromEnv: true, file: secretsFile },
      slack: {
        signingSecret: 'test-signing-secret',
        botToken: 'xoxb-test',
        channel: '#deploys',
        apiUrl: `http://127.0.0.1:${(stub.address() as AddressInfo).port}`,
        users: { U_BOB: 'bob' },
      },
    });
    env = await startTemporal();
    worker = await startWorker(env, config);
    h = api(createApp({ temporal: { client: env.client }, config }));
    codecWorker = await startWorker(env, codecConfig);
    const codecClient = new Client({
      connection: env.connection,
      namespace: 'default',
      dataConverter: dataConverterFor(codecConfig),
    });
    codecApp = createApp({ temporal: { client: codecClient }, config: codecConfig });
    hc = api(codecApp);
  });
  afterAll(async () => {
    await worker?.stop();
    await codecWorker?.stop();
    await env?.teardown();
    stub?.close();
  });

  it('validates references at the API: any declared variable takes one, a sensitive one only a reference', async () => {
    const plain = await h.post('alice', '/api/v1/deployments', {
      stack: 'tofu-secret',
      environment: 'dev',
      variables: { db_password: 'typed-in-clear' },
    });
    expect(plain.status).toBe(400);
    expect(plain.body.error.message).toMatch(
      /variables\.db_password: variable db_password is sensitive: give it by reference/,
    );
    const badName = await h.post('alice', '/api/v1/deployments', {
      stack: 'tofu-secret',
      environment: 'dev',
      variables: { db_password: { secret: 'lower-case' } },
    });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toMatch(/variables\.db_password\.secret: a secret name/);
    const undeclared = await h.post('alice', '/api/v1/deployments', {
      stack: 'sim-secret',
      environment: 'dev',
      variables: { db_password: { secret: 'X' }, nope: { secret: 'Y' } },
    });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.error.message).toMatch(/unknown variable "nope"/);
  });

  it('OpenTofu: the tool gets the secret from the secrets file; outputs, plan, logs, state and drift never show it', async () => {
    const id = await h.deploy('alice', {
      stack: 'tofu-secret',
      environment: 'staging',
      variables: { db_password: { secret: 'DB_PASSWORD' } },
    });
    runIds.push(id);
    const waiting = await h.waitFor(id, ['awaiting_approval'], 180_000);
    await eventually(() => posted.some((p) => JSON.stringify(p).includes(id)), 'the Slack approval message');
    const plan = await get('alice', `/api/v1/deployments/${id}/plan`);
    expect(plan.status).toBe(200);
    const approved = await h.post('bob', `/api/v1/deployments/${id}/approve`, { planHash: waiting.plan!.planHash });
    responses.push(JSON.stringify(approved.body));
    expect(approved.status).toBeLessThan(300);
    const done = await h.waitFor(id, ['succeeded'], 180_000);

    // The tool received exactly the planted value.
    expect(fs.readFileSync(path.join(outDir, 'password-staging.txt'), 'utf8')).toBe(DB_SECRET);
    // Sensitive outputs, and the one the stack echoes by mistake, are shown as (sensitive).
    expect(done.outputs).toMatchObject({
      password_sha256: '(sensitive)',
      echo: '(sensitive)',
      password_file: path.join(outDir, 'password-staging.txt'),
    });
    const state = await get('alice', '/api/v1/stacks/tofu-secret/environments/staging/state');
    expect(state.body.outputs).toMatchObject({ password_sha256: '(sensitive)', echo: '(sensitive)' });
    // The state route shows no resource attributes at all (the tool's state holds the value: see the sweep).
    expect(state.body.resources).toEqual([{ address: 'local_sensitive_file.password', type: 'local_sensitive_file' }]);
    await get('alice', '/api/v1/stacks/tofu-secret/environments/staging/state/history');
    // The tool printed the echoed value in its plan: the run log has the line, redacted.
    const logs = await get('alice', `/api/v1/deployments/${id}/logs`);
    expect(logs.body.items.some((l: { message: string }) => /echo\s+=\s+"\(sensitive\)"/.test(l.message))).toBe(true);

    // Drift needs the secret too (a refresh-only plan): remove the file behind Strata's back and scan.
    fs.rmSync(path.join(outDir, 'password-staging.txt'));
    expect((await h.post('alice', '/api/v1/stacks/tofu-secret/environments/staging/drift-scan', {})).status).toBe(202);
    const drift = await eventually(
      async () => {
        const r = await get('alice', '/api/v1/stacks/tofu-secret/environments/staging/drift');
        return r.status === 200 && r.body.version !== undefined ? r.body : undefined;
      },
      'a drift report',
      180_000,
    );
    expect(drift).toMatchObject({
      drifted: true,
      resources: [expect.objectContaining({ address: 'local_sensitive_file.password', change: 'deleted' })],
    });
  }, 480_000);

  it('simulated cloud: the secret comes from the worker environment; the cloud keeps only its digest', async () => {
    const id = await h.deploy('alice', {
      stack: 'sim-secret',
      environment: 'dev',
      variables: { db_password: { secret: 'STRATA_TEST_SIM_TOKEN' } },
    });
    runIds.push(id);
    const done = await h.waitFor(id, ['succeeded']);
    expect(done.resources.map((r) => r.address)).toContain('aws_database.db');
    const digest = `sha256:${sha256(SIM_SECRET)}`;
    const holders = [];
    for (const f of filesUnder(config.artifactsDir)) if ((await contentOf(f)).includes(digest)) holders.push(f);
    // The plan and the simulated cloud's records hold the digest of the right value.
    expect(holders.length).toBeGreaterThan(0);
    await get('alice', `/api/v1/deployments/${id}`);
    await get('alice', `/api/v1/deployments/${id}/plan`);
    await get('alice', `/api/v1/deployments/${id}/logs`);
    await get('alice', '/api/v1/stacks/sim-secret/environments/dev/state');
    await get('alice', '/api/v1/deployments?limit=50');
  });

  it('a reference the worker cannot resolve fails the run with SECRET_NOT_FOUND naming it', async () => {
    const id = await h.deploy('alice', {
      stack: 'sim-secret',
      environment: 'dev',
      variables: { db_password: { secret: 'NO_SUCH_SECRET_HERE' } },
    });
    runIds.push(id);
    const failed = await h.waitFor(id, ['failed']);
    expect(failed.error?.code).toBe('SECRET_NOT_FOUND');
    expect(failed.error?.message).toMatch(/secret NO_SUCH_SECRET_HERE \(variable db_password\) is not set/);
    // Non-retryable: one attempt of the planning step, not the retry policy's several. A simulated stack prepares
    // and plans in one local activity (planSteps), whose marker in history records the step and its attempt.
    const history = await env.client.workflow.getHandle(`strata-run/${id}`).fetchHistory();
    const markers = history
      .events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      .map((e) => {
        const payload = e.markerRecordedEventAttributes!.details!.data!.payloads![0];
        return JSON.parse(Buffer.from(payload.data!).toString('utf8')) as { activity_type: string; attempt: number };
      })
      .filter((m) => m.activity_type === 'planSteps');
    expect(markers).toHaveLength(1);
    expect(markers[0].attempt).toBe(1);
    const res = await get('alice', `/api/v1/deployments/${id}`);
    expect(JSON.stringify(res.body)).not.toMatch(/pw-|tok-|cdc-/);
    await get('alice', `/api/v1/deployments/${id}/logs`);
  });

  it('with encrypted payloads and a reference from strata.yaml, `temporal workflow show` through the codec server shows the reference, never the value', async () => {
    const id = await hc.deploy('alice', { stack: 'sim-secret-codec', environment: 'dev' });
    const done = await hc.waitFor(id, ['succeeded']);
    // The simulated cloud got the value strata.yaml's reference names.
    const digest = `sha256:${sha256(CODEC_SECRET)}`;
    const holders = [];
    for (const f of filesUnder(codecConfig.artifactsDir)) if ((await contentOf(f)).includes(digest)) holders.push(f);
    expect(holders.length).toBeGreaterThan(0);
    responses.push(JSON.stringify(done));
    await get('alice', `/api/v1/deployments/${id}/logs`, () => hc);
    const server = await new Promise<http.Server>((resolve) => {
      const srv = codecApp.listen(0, '127.0.0.1', () => resolve(srv));
    });
    try {
      const port = (server.address() as AddressInfo).port;
      const show = await run(
        toolPath('TEMPORAL_CLI'),
        [
          'workflow',
          'show',
          '--address',
          `${env.connection.options.address}`,
          '--workflow-id',
          `strata-run/${id}`,
          '--output',
          'json',
          '--codec-endpoint',
          `http://127.0.0.1:${port}/codec`,
          '--codec-auth',
          `Bearer ${TOKENS.alice}`,
        ],
        { maxBuffer: 64 << 20 },
      );
      const decoded = decodedPayloads(JSON.parse(show.stdout)).join('\n');
      // Decoding worked (the reference is there by name) and the value is not.
      expect(decoded).toContain('STRATA_TEST_CODEC_TOKEN');
      expect(leaksIn(show.stdout + decoded)).toEqual([]);
      const raw = await run(
        toolPath('TEMPORAL_CLI'),
        [
          'workflow',
          'show',
          '--address',
          `${env.connection.options.address}`,
          '--workflow-id',
          `strata-run/${id}`,
          '--output',
          'json',
        ],
        { maxBuffer: 64 << 20 },
      );
      expect(decodedPayloads(JSON.parse(raw.stdout)).join('\n')).not.toContain('STRATA_TEST_CODEC_TOKEN');
      expect(leaksIn(raw.stdout)).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('sweep: no secret value in any workflow history, log, run log, API response, Slack message or stored file but the tool state', async () => {
    // Every workflow on the server (runs, stack locks, drift scans), shown with plain payloads, no codec.
    const cli = toolPath('TEMPORAL_CLI');
    const address = `${env.connection.options.address}`;
    const list = await run(cli, ['workflow', 'list', '--address', address, '--output', 'json'], {
      maxBuffer: 64 << 20,
    });
    const workflows = (JSON.parse(list.stdout) as { execution: { workflowId: string; runId: string } }[]).map(
      (w) => w.execution,
    );
    expect(workflows.length).toBeGreaterThan(runIds.length);
    let sawReference = false;
    for (const w of workflows) {
      const show = await run(
        cli,
        [
          'workflow',
          'show',
          '--address',
          address,
          '--workflow-id',
          w.workflowId,
          '--run-id',
          w.runId,
          '--output',
          'json',
        ],
        { maxBuffer: 64 << 20 },
      );
      const text = `${show.stdout}\n${decodedPayloads(JSON.parse(show.stdout)).join('\n')}`;
      expect({ workflow: w.workflowId, leaks: leaksIn(text) }).toEqual({ workflow: w.workflowId, leaks: [] });
      const human = await run(
        cli,
        ['workflow', 'show', '--address', address, '--workflow-id', w.workflowId, '--run-id', w.runId],
        { maxBuffer: 64 << 20 },
      );
      expect({ workflow: w.workflowId, leaks: leaksIn(human.stdout) }).toEqual({ workflow: w.workflowId, leaks: [] });
      if (text.includes('DB_PASSWORD')) sawReference = true;
    }
    // The reference itself (a name) is in history, as it should be: proof the search looked at decoded payloads.
    expect(sawReference).toBe(true);

    // Run logs and API responses (collected through the tests), and the Slack stub's messages.
    for (const id of runIds) {
      const logs = await get('alice', `/api/v1/deployments/${id}/logs`);
      expect(logs.body.items.length).toBeGreaterThan(0);
      await get('alice', `/api/v1/deployments/${id}`);
    }
    expect(leaksIn(responses.join('\n'))).toEqual([]);
    expect(posted.length).toBeGreaterThan(0);
    expect(leaksIn(JSON.stringify(posted))).toEqual([]);

    // Logs: pino's file (the API logged every request at trace level) and the SDK's logger.
    const pino = fs.readFileSync(logFile, 'utf8');
    expect(pino.split('\n').length).toBeGreaterThan(10);
    expect(leaksIn(pino)).toEqual([]);
    expect(sdkLog.length).toBeGreaterThan(0);
    expect(leaksIn(sdkLog.join('\n'))).toEqual([]);

    // Stored files: the only ones that hold a value are the OpenTofu state versions in the state store (the tool stores
    // variable-derived attributes in its state, and this stack's outputs). The saved plans, which hold variable values,
    // are encrypted (zip members included: contentOf unpacks them).
    const stateDir = config.stateStore.kind === 'filesystem' ? config.stateStore.path : '';
    const holders: string[] = [];
    for (const f of [stateDir, config.artifactsDir, codecConfig.artifactsDir].flatMap(filesUnder)) {
      if (leaksIn(await contentOf(f)).length === 0) continue;
      if (f.startsWith(stateDir + path.sep) && f.includes('tofu-secret')) holders.push('tofu state');
      else if (f.startsWith(config.artifactsDir + path.sep) && /runs\/[^/]+\/plan[^/]*\.bin$/.test(f))
        holders.push('tofu plan');
      else holders.push(f);
    }
    expect([...new Set(holders)]).toEqual(['tofu state']);
    const plans = filesUnder(config.artifactsDir).filter((f) => /runs\/[^/]+\/plan[^/]*\.bin$/.test(f));
    expect(plans.length).toBeGreaterThan(0);
    for (const f of plans) expect(fs.readFileSync(f, 'latin1')).toMatch(/^\{"meta":\{"key_provider\.pbkdf2\.strata"/);
    // The worker-local workspaces (a cache, rebuilt from the stores) hold the tool's state file, nothing else.
    const local: string[] = [];
    for (const f of filesUnder(config.workDir))
      if (leaksIn(await contentOf(f)).length > 0) local.push(path.basename(f));
    expect(local.length).toBeGreaterThan(0);
    expect(local.filter((f) => !/^terraform\.tfstate(\.backup)?$/.test(f))).toEqual([]);
    // The config snapshot keeps the reference, not the value.
    const snapshots = filesUnder(config.artifactsDir).filter((f) => f.endsWith('config.json'));
    expect(snapshots.length).toBeGreaterThan(0);
    expect(snapshots.some((f) => fs.readFileSync(f, 'utf8').includes('DB_PASSWORD'))).toBe(true);
  }, 240_000);
});
