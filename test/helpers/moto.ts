/**
 * Starts a moto server (AWS emulator from PyPI `moto[server]`) on a free loopback port for one test file.
 * The binary comes from readTools().MOTO_SERVER (scripts/get-tools.sh), else `moto_server` on PATH.
 *
 *   const moto = await startMoto();            // in beforeAll
 *   new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: MOTO_CREDENTIALS })
 *   await moto.stop();                          // in afterAll
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readTools } from '../../src/shared/tools';
import { poll } from './poll';

/** Static credentials moto accepts; keeps tests away from the developer's real AWS profile. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Stops the server and every process it spawned; safe to call twice. */
  stop(): Promise<void>;
  /** Clears every emulated resource (POST /moto-api/reset), for isolation between tests. */
  reset(): Promise<void>;
}

export interface StartMotoOptions {
  /** Path of the moto_server executable; default readTools().MOTO_SERVER, else `moto_server`. */
  bin?: string;
  /** How long to wait for the server to answer (default 30 s: a cold Python import of moto is slow). */
  startTimeoutMs?: number;
}

/** Asks the kernel for a free port. Another process could grab it before moto binds, hence the retry below. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Signals the whole process group (the pyenv shim execs python, which may fork). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  killGroup(child, 'SIGTERM');
  const graceful = await Promise.race([exited(child).then(() => true), delay(5000).then(() => false)]);
  if (!graceful) {
    killGroup(child, 'SIGKILL');
    await exited(child);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function startOnce(bin: string, timeoutMs: number): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true, // own process group, so stop() can kill the tree
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: 'us-east-1',
    },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));

  try {
    await poll(
      async () => {
        if (await answers(endpoint)) return true;
        if (spawnError) throw new Error(`could not run ${bin}: ${spawnError.message}`);
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`exited with ${child.exitCode ?? child.signalCode}`);
        return false;
      },
      { what: `moto_server to answer on ${endpoint}`, timeoutMs, everyMs: 100, errors: 'throw' },
    );
  } catch (err) {
    await stopChild(child);
    throw new Error(`moto_server ${(err as Error).message}\n${stderr.trim()}`);
  }
  child.stderr!.resume();
  // If the test process dies without calling stop(), do not leave a detached server behind.
  const onExit = () => killGroup(child, 'SIGKILL');
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    port,
    stop: () =>
      (stopping ??= stopChild(child).finally(() => {
        process.removeListener('exit', onExit);
      })),
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
  };
}

/** Starts moto on a free 127.0.0.1 port and resolves once it answers HTTP. */
export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const bin = opts.bin ?? readTools().MOTO_SERVER ?? 'moto_server';
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  let lastError: unknown;
  // A port race (someone else bound our "free" port) shows up as an early exit; try a fresh port.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bin, timeoutMs);
    } catch (err) {
      lastError = err;
      if (/could not run|did not answer/.test(String(err))) break;
    }
  }
  throw lastError;
}
