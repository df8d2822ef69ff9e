/**
 * moto (the AWS emulator) goes away in the middle of a failover stage and comes back: the failover must end
 * in a consistent state, whichever way it ends. moto keeps its resources in memory only, so "stopped and
 * started again" is played two ways that keep them: the worker's AWS endpoint is a loopback TCP proxy that
 * stops listening and drops its connections (connection refused, as for a stopped server), or moto's
 * process group is frozen with SIGSTOP and thawed with SIGCONT (a server that hangs).
 */
import fs from 'node:fs';
import net from 'node:net';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  answerOf,
  createAwsClients,
  createAwsFailoverActivities,
  readRecords,
} from '../../../src/activities/cloud/aws';
import { FAILOVER_STAGES, FAILOVER_TERMINAL_STATUSES, type Failover } from '../../../src/contracts/failover';
import { createAwsFailoverFixture, EAST, WEST, type AwsFailoverFixture } from '../../helpers/failover-fixture';
import { MOTO_CREDENTIALS, startMoto, type MotoServer } from '../../helpers/moto';
import type { Violation } from '../lib/invariants';
import { freePorts, pause } from '../lib/procs';
import { record } from '../lib/report';
import type { Rng } from '../lib/rng';
import type { World } from '../lib/world';

/** A TCP proxy on a fixed loopback port that can be taken down (refusing connections) and brought back. */
export class Proxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: this.target });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** moto, the proxy in front of it, and one fixture (a primary/standby group) per trial, made before the world starts. */
export interface FailoverSetup {
  moto: MotoServer;
  proxy: Proxy;
  fixtures: AwsFailoverFixture[];
}

export async function setUpFailover(n: number): Promise<FailoverSetup> {
  const moto = await startMoto();
  const [port] = await freePorts(1);
  const proxy = new Proxy(port, moto.port);
  await proxy.up();
  const fixtures: AwsFailoverFixture[] = [];
  for (let i = 0; i < n; i++) fixtures.push(await createAwsFailoverFixture(proxy.endpoint));
  return { moto, proxy, fixtures };
}

export function failoverGroups(setup: FailoverSetup): Record<string, unknown> {
  // The worker reads groups from strata.yaml: the fixture's parsed group is already in that shape.
  return Object.fromEntries(setup.fixtures.map((f) => [f.name, f.group]));
}

export interface MotoTrial {
  index: number;
  stage: (typeof FAILOVER_STAGES)[number];
  mode: 'refuse' | 'freeze';
  downMs: number;
}

export function planMotoTrials(rng: Rng, n: number): MotoTrial[] {
  return Array.from({ length: n }, (_, i) => {
    const r = rng.fork(`moto-${i}`);
    return {
      index: i,
      stage: r.pick(FAILOVER_STAGES),
      mode: i % 2 === 0 ? 'refuse' : 'freeze',
      downMs: r.int(1000, 8000),
    };
  });
}

export async function runMotoTrial(world: World, setup: FailoverSetup, t: MotoTrial): Promise<void> {
  const group = 'moto-failover';
  const name = `moto-${String(t.index).padStart(2, '0')}/${t.mode}/${t.stage}`;
  const started = Date.now();
  let phase: string | undefined;
  const story: string[] = [];
  const violations: Violation[] = [];
  const f = setup.fixtures[t.index];
  const motoGroup = () => {
    // moto_server runs in its own group (test/helpers/moto.ts); find its pid through the port it serves.
    return pidListening(setup.moto.port);
  };
  try {
    await world.heal();
    const res = await world.http('POST', '/api/v1/failovers', {
      group: f.name,
      mode: 'planned',
      reason: `chaos ${name}`,
    });
    if (res.status !== 202) throw new Error(`POST /failovers answered ${res.status} ${JSON.stringify(res.body)}`);
    const id = res.body.id as string;
    const get = async () => {
      const r = await world.http('GET', `/api/v1/failovers/${encodeURIComponent(id)}`);
      return r.status === 200 ? (r.body as Failover) : undefined;
    };
    // Wait for the target stage to be running (or past it: the outage then hits whatever runs next).
    const deadline = Date.now() + 60_000;
    let seen: Failover | undefined;
    while (Date.now() < deadline) {
      seen = await get();
      const st = seen?.stages.find((s) => s.name === t.stage);
      if (st && st.status !== 'pending') break;
      if (seen && FAILOVER_TERMINAL_STATUSES.includes(seen.status)) break;
      await pause(30);
    }
    const running = seen?.stages.find((s) => s.status === 'running')?.name ?? seen?.status ?? 'unknown';
    phase = running;
    let pid: number | undefined;
    if (t.mode === 'refuse') await setup.proxy.down();
    else {
      pid = motoGroup();
      if (pid) process.kill(-pgidOf(pid), 'SIGSTOP');
    }
    await pause(t.downMs);
    if (t.mode === 'refuse') await setup.proxy.up();
    else if (pid) process.kill(-pgidOf(pid), 'SIGCONT');
    story.push(
      `moto ${t.mode === 'refuse' ? 'refused connections' : `frozen (SIGSTOP, pid ${pid ?? '?'})`} for ${t.downMs} ms while ${running} ran`,
    );

    let done: Failover | undefined;
    const end = Date.now() + 240_000;
    while (Date.now() < end) {
      done = await get();
      if (done && FAILOVER_TERMINAL_STATUSES.includes(done.status)) break;
      await pause(300);
    }
    if (!done || !FAILOVER_TERMINAL_STATUSES.includes(done.status)) {
      violations.push({
        invariant: 'run_ended',
        detail: `failover ${id} still ${done?.status ?? 'unknown'} after 240 s`,
      });
    } else {
      story.push(`ended ${done.status} (${done.stages.map((s) => `${s.name}:${s.status}`).join(' ')})`);
      violations.push(...(await consistency(setup, f, done)));
    }
  } catch (err) {
    violations.push({ invariant: 'trial_error', detail: (err as Error).stack ?? String(err) });
  } finally {
    // Never leave moto frozen or the proxy down for the next trial.
    const pid = motoGroup();
    if (pid) process.kill(-pgidOf(pid), 'SIGCONT');
    await setup.proxy.up().catch(() => undefined);
  }
  record({ group, name, story, violations, phase, lost: 0, duplicated: 0, ms: Date.now() - started });
}

/** The world agrees with itself and with the failover's outcome. */
async function consistency(setup: FailoverSetup, f: AwsFailoverFixture, done: Failover): Promise<Violation[]> {
  const out: Violation[] = [];
  const v = (invariant: string, detail: string) => out.push({ invariant, detail });
  // A failover that refused to begin (initialization failed: the target looked unreachable) changed nothing,
  // which is as consistent as one that completed or was undone.
  const refusedToBegin =
    done.status === 'failed' && done.stages.every((s) => s.name === 'initialization' || s.status === 'skipped');
  if (!['succeeded', 'rolled_back'].includes(done.status) && !refusedToBegin)
    v(
      'final_status',
      `expected succeeded|rolled_back (or failed before any change), got ${done.status}${done.error ? ` (${done.error.code}: ${done.error.message})` : ''}`,
    );
  const bad = done.compensations.filter((c) => !['succeeded', 'manual'].includes(c.status));
  if (bad.length)
    v(
      'compensations_done',
      bad.map((c) => `${c.name}: ${c.status}${c.error ? ` (${c.error.message})` : ''}`).join(', '),
    );
  // Read the world directly from moto, not through the proxy the outage was played on.
  const clients = createAwsClients({ endpoint: setup.moto.endpoint, credentials: MOTO_CREDENTIALS });
  const state = await createAwsFailoverActivities({ clients }).readState({ name: f.name, cfg: f.group });
  if (state.lock) v('failover_lock_free', `global lock still held by ${state.lock.owner}`);
  const active = state.activeSide ?? 'primary';
  const want = done.status === 'succeeded' ? 'secondary' : 'primary';
  if (active !== want)
    v('active_side_matches_status', `failover ${done.status}, global state says ${active} is active`);
  const records = await readRecords(clients.route53(), { name: f.name, cfg: f.group });
  const sides = records ? answerOf(records).sides : [];
  if (sides.length !== 1 || sides[0] !== active)
    v('dns_matches_active_side', `DNS answers ${sides.join('+') || 'nothing'}, active side ${active}`);
  const desired = async (region: string, asg: string) =>
    (await clients.autoScaling(region).send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [asg] })))
      .AutoScalingGroups?.[0]?.DesiredCapacity ?? 0;
  const cap = { primary: await desired(EAST, f.asg.east), secondary: await desired(WEST, f.asg.west) };
  const passive = active === 'primary' ? 'secondary' : 'primary';
  if (cap[active] === 0 || cap[passive] !== 0)
    v(
      'capacity_matches_active_side',
      `desired capacity primary=${cap.primary} secondary=${cap.secondary}, active ${active}`,
    );
  return out;
}

function pidListening(port: number): number | undefined {
  // /proc/net/tcp lists listening sockets by inode; find the process holding that inode.
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') inodes.add(cols[9]);
  }
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1])) return Number(pid);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

function pgidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}
