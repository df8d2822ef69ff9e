/**
 * One long-lived `opa run --server` per worker and policy directory, asked over a Unix socket: an evaluation
 * costs about a millisecond instead of an `opa` process that starts and compiles every policy (60–120 ms of CPU
 * per run on a small machine, most of a busy worker's time). The server is started on the first evaluation and
 * restarted whenever a file of the directory changes, so an edited policy applies from the next plan on
 * and a policy that no longer compiles fails the server's start, which the caller reports as it did before (it
 * falls back to `opa eval`). Nothing outlives the worker: the server runs under a shell that kills it as soon as
 * the worker's end of its stdin closes, which happens however the worker ends (SIGKILL included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/** What the directory holds now: names, sizes and modification times of what opa loads (policies and data). */
function fingerprint(dir: string): string {
  const parts: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !e.name.endsWith('_test.rego')) {
        const st = fs.statSync(p);
        parts.push(`${p}:${st.size}:${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return parts.join('\n');
}

function request(socketPath: string, method: string, urlPath: string, body?: string, timeoutMs = 30_000) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      { socketPath, method, path: urlPath, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`opa server did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const SOCKET_NAME = /^strata-opa-(\d+)-[0-9a-f]{8}\.sock$/;

/** Removes sockets whose worker is gone (one killed together with its process group leaves its socket behind). */
function sweepSockets(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(SOCKET_NAME.exec(name)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(os.tmpdir(), name), { force: true });
    }
  }
}

interface Running {
  child: ChildProcess;
  socket: string;
  fingerprint: string;
  ready: Promise<void>;
}

/** The policy server of one directory. */
export class OpaServer {
  private running?: Running;

  constructor(
    private readonly bin: string,
    private readonly dir: string,
  ) {}

  /** `data.strata` for `input`; throws when the server cannot start or answer (the caller falls back). */
  async evaluate(input: unknown, timeoutMs: number): Promise<unknown> {
    const server = await this.current();
    const res = await request(server.socket, 'POST', '/v1/data/strata', JSON.stringify({ input }), timeoutMs);
    if (res.status !== 200) throw new Error(`opa server answered ${res.status}: ${res.body.slice(0, 500)}`);
    return (JSON.parse(res.body) as { result?: unknown }).result;
  }

  /** Stops the server (the worker's shutdown). */
  stop(): void {
    // Closing its stdin is what stops it (see start); the shell may be gone already.
    this.running?.child.stdin?.destroy();
    this.running = undefined;
  }

  private async current(): Promise<Running> {
    const now = fingerprint(this.dir);
    if (this.running?.fingerprint !== now) {
      this.stop();
      this.running = this.start(now);
    }
    const running = this.running!;
    try {
      await running.ready;
    } catch (err) {
      if (this.running === running) this.stop();
      throw err;
    }
    return running;
  }

  private start(print: string): Running {
    sweepSockets();
    const socket = path.join(os.tmpdir(), `strata-opa-${process.pid}-${randomUUID().slice(0, 8)}.sock`);
    // opa reads /dev/null; `cat` holds the worker's pipe and returns when its end closes, then opa goes. The shell
    // itself ends with opa (a policy that does not compile ends it at once), which tells the worker.
    // (A background job's stdin is /dev/null unless given explicitly: hence fd 3.)
    const script =
      'exec 3<&0; "$@" 0</dev/null 3<&- & pid=$!; { cat >/dev/null; kill $pid 2>/dev/null; } <&3 3<&- & exec 3<&-; ' +
      'wait $pid; rm -f "$STRATA_OPA_SOCKET"';
    // Only this user may connect: opa's API also writes policies and data.
    const args = [
      'run',
      '--server',
      '--addr',
      `unix://${socket}`,
      '--unix-socket-perm',
      '700',
      '--ignore',
      '*_test.rego',
      '--log-level',
      'error',
    ];
    // The shell removes the socket once opa is gone, also when the worker was killed.
    const child = spawn('sh', ['-c', script, 'opa-server', this.bin, ...args, this.dir], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, STRATA_OPA_SOCKET: socket },
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4000)));
    child.unref();
    // Neither pipe may keep the worker's process alive: it ends when the worker has nothing else to do.
    for (const pipe of [child.stdin, child.stderr]) (pipe as unknown as { unref?: () => void } | null)?.unref?.();
    const ready = (async () => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`opa server exited: ${stderr.trim() || child.exitCode}`);
        try {
          if ((await request(socket, 'GET', '/health', undefined, 1000)).status === 200) return;
        } catch {
          // Not listening yet.
        }
        if (Date.now() > deadline) throw new Error(`opa server did not start: ${stderr.trim()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    child.once('exit', () => fs.rmSync(socket, { force: true }));
    return { child, socket, fingerprint: print, ready };
  }
}
