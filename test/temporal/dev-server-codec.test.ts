/**
 * The dev server's Web UI decodes payloads through Strata's codec server: temporal/dev-server.sh must hand it the
 * API's address (HOST/PORT as the API uses them), not the Temporal frontend's own.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/temporal';
import { toolPath } from '../helpers/tools';

const ROOT = path.resolve(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

it('points the Web UI at the API codec endpoint', async () => {
  const [grpc, ui, apiPort] = [await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-devserver-'));
  const child = spawn('bash', ['temporal/dev-server.sh'], {
    cwd: ROOT,
    detached: true,
    stdio: 'ignore',
    env: {
      ...process.env,
      TEMPORAL_BIN: toolPath('TEMPORAL_CLI'),
      TEMPORAL_ADDRESS: `127.0.0.1:${grpc}`,
      TEMPORAL_UI_PORT: String(ui),
      TEMPORAL_DB_FILE: path.join(dir, 't.sqlite'),
      HOST: '127.0.0.1',
      PORT: String(apiPort),
    },
  });
  try {
    const settings = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${ui}/api/v1/settings`);
        return res.ok ? ((await res.json()) as { Codec: { Endpoint: string } }) : undefined;
      },
      'the Web UI to answer',
      60_000,
    );
    expect(settings.Codec.Endpoint).toBe(`http://127.0.0.1:${apiPort}/codec`);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
});
