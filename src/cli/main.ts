/**
 * `strata`: the operator's command line over the HTTP API. Identity is the caller's token (STRATA_TOKEN), so every
 * rule the API applies (roles, four-eyes, signed decisions) applies here too; STRATA_API says where the API is.
 * Human tables by default, `--json` for scripts; exit codes in EXIT (src/cli/http.ts).
 */
import type { Deployment, PlanView } from '../contracts/runs';
import type { Failover } from '../contracts/failover';
import { apiClient, CliError, EXIT, type ApiClient } from './http';
import { progressBar, seconds, shortTime, table } from './format';

const RUN_TERMINAL = [
  'succeeded',
  'no_changes',
  'planned',
  'failed',
  'rolled_back',
  'rejected',
  'expired',
  'cancelled',
];
const RUN_OK = ['succeeded', 'no_changes', 'planned'];
/** A tool log line saying one resource is done (OpenTofu's wording, which the simulated cloud follows). */
const RESOURCE_DONE = /(Creation|Modifications|Replacement|Destruction) complete/;
const FAILOVER_TERMINAL = ['succeeded', 'planned', 'failed', 'rolled_back', 'rejected', 'expired', 'cancelled'];

const USAGE = `strata — plan, approve, apply, roll back and fail over infrastructure through the Strata API

Usage:
  strata deploy <stack> <env> [--var k=v]... [--dry-run] [--reason r] [--wait]
  strata status <run-id>                    the run: status, plan counts, approvals, error
  strata runs [--stack s] [--env e] [--status st] [--kind k] [--limit n]
  strata plan <run-id>                      resources and actions, with the plan's risk
  strata logs <run-id> [-f]                 the run's log; -f follows it live until the run ends
  strata approve <run-id> [--comment c]     as the token's subject (four-eyes and roles apply)
  strata reject <run-id> [--reason r]
  strata cancel <run-id>
  strata rollback <stack> <env> <version> [--reason r] [--wait]
  strata destroy <stack> <env> [--reason r] [--wait]
  strata history <stack> <env>              state versions, newest first
  strata unlock <stack> <env> [--reason r]  force-unlock (admin)
  strata failover <group> [--mode planned|emergency] [--dry-run] [--reason r] [--wait]
  strata failovers [<failover-id>]          list failovers, or one with its six stages
  strata whoami

Options: --json (machine-readable output), --wait (follow the run to its end; exit 1 unless it succeeded)
Environment: STRATA_API (default http://127.0.0.1:8080), STRATA_TOKEN (bearer token)
Exit codes: 0 ok · 1 run ended unsuccessfully · 2 usage · 3 refused by the API (4xx) · 4 API unreachable or 5xx`;

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
  vars: string[];
}

const BOOLEAN = new Set(['json', 'wait', 'dry-run', 'follow', 'help']);

function parseArgs(argv: string[]): Args {
  const out: Args = { positional: [], flags: new Map(), vars: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-f') out.flags.set('follow', true);
    else if (a === '-h') out.flags.set('help', true);
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (BOOLEAN.has(name)) {
        out.flags.set(name, true);
        continue;
      }
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new CliError(`--${name} needs a value`, EXIT.usage);
      if (name === 'var') out.vars.push(value);
      else out.flags.set(name, value);
    } else out.positional.push(a);
  }
  return out;
}

/** `--var k=v`: the value as JSON when it parses (numbers, booleans, lists), else the string. */
function variables(vars: string[]): Record<string, unknown> | undefined {
  if (!vars.length) return undefined;
  const out: Record<string, unknown> = {};
  for (const v of vars) {
    const i = v.indexOf('=');
    if (i <= 0) throw new CliError(`--var ${v}: expected name=value`, EXIT.usage);
    const raw = v.slice(i + 1);
    try {
      out[v.slice(0, i)] = JSON.parse(raw);
    } catch {
      out[v.slice(0, i)] = raw;
    }
  }
  return out;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** True when stderr is a terminal: the progress bar redraws in place. */
  tty: boolean;
  sleep: (ms: number) => Promise<void>;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  tty: Boolean(process.stderr.isTTY),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

function need(args: Args, n: number, what: string): string[] {
  if (args.positional.length < n + 1) throw new CliError(`usage: strata ${args.positional[0]} ${what}`, EXIT.usage);
  return args.positional.slice(1, n + 1);
}

const str = (args: Args, name: string) => {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};

function runSummary(d: Deployment): string {
  const lines = [
    `${d.kind} ${d.stack} → ${d.environment}   ${d.status}${d.queuePosition ? ` (queue position ${d.queuePosition})` : ''}`,
    `run ${d.id}, requested by ${d.requestedBy} at ${shortTime(d.createdAt)}${d.dryRun ? ' (dry run)' : ''}`,
  ];
  if (d.plan)
    lines.push(
      `plan: +${d.plan.add} ~${d.plan.change} -${d.plan.destroy}, risk ${d.plan.risk}, hash ${d.plan.planHash.slice(0, 12)}`,
    );
  lines.push(
    `approvals: ${d.approvals.length} of ${d.approvalsRequired}${d.approvals.map((a) => ` · ${a.by} (${a.via}) ${shortTime(a.at)}`).join('')}`,
  );
  if (d.rejection) lines.push(`rejected by ${d.rejection.by}${d.rejection.reason ? `: ${d.rejection.reason}` : ''}`);
  if (d.stateVersion) lines.push(`state version ${d.stateVersion}`);
  if (d.error) lines.push(`error: ${d.error.code}: ${d.error.message}`);
  if (d.rollback)
    lines.push(
      `automatic rollback: ${d.rollback.status}${d.rollback.toVersion ? ` to version ${d.rollback.toVersion}` : ''}`,
    );
  return lines.join('\n');
}

function planTable(p: PlanView): string {
  return [
    table(
      ['RESOURCE', 'TYPE', 'ACTION'],
      p.resources.map((r) => [r.address, r.type, r.action]),
    ),
    '',
    `Plan: ${p.add} to add, ${p.change} to change, ${p.destroy} to destroy. Risk: ${p.risk}. Hash: ${p.planHash}`,
  ].join('\n');
}

/** Follows a run to its end, drawing resources applied out of planned; the exit code says how it ended. */
async function waitForRun(api: ApiClient, id: string, io: Io, json: boolean): Promise<number> {
  let last = '';
  let d: Deployment;
  for (;;) {
    d = await api.get<Deployment>(`/api/v1/deployments/${id}`);
    const planned = d.resources.filter((r) => r.action && !['no-op', 'read'].includes(r.action)).length;
    let applied = d.resources.filter((r) => r.status === 'applied' || r.status === 'deleted').length;
    if (d.status === 'applying') {
      // The run marks resources applied when the apply ends; the tool's log says so resource by resource.
      const { items } = await api.get<{ items: { message: string; resource?: string }[] }>(
        `/api/v1/deployments/${id}/logs`,
      );
      applied = Math.max(
        applied,
        new Set(items.filter((i) => i.resource && RESOURCE_DONE.test(i.message)).map((i) => i.resource)).size,
      );
    }
    const waiting =
      d.status === 'awaiting_approval' ? ` — waiting for approvals (${d.approvals.length}/${d.approvalsRequired})` : '';
    const line = `${d.status.padEnd(17)} ${progressBar(applied, planned)}${waiting}`;
    if (!json && line !== last) {
      if (io.tty) process.stderr.write(`\r\x1b[2K${line}`);
      else io.err(line);
      last = line;
    }
    if (RUN_TERMINAL.includes(d.status)) break;
    await io.sleep(500);
  }
  if (!json && io.tty) process.stderr.write('\n');
  if (json) io.out(JSON.stringify(d, null, 2));
  else io.out(runSummary(d));
  return RUN_OK.includes(d.status) ? EXIT.ok : EXIT.runFailed;
}

async function waitForFailover(api: ApiClient, id: string, io: Io, json: boolean): Promise<number> {
  let last = '';
  let f: Failover;
  for (;;) {
    f = await api.get<Failover>(`/api/v1/failovers/${id}`);
    const done = f.stages.filter((s) => s.status === 'succeeded').length;
    const line = `${f.status.padEnd(17)} ${done}/6 stages${f.status === 'awaiting_approval' ? ` — waiting for approvals (${f.approvals.length}/${f.approvalsRequired})` : ''}`;
    if (!json && line !== last) {
      io.err(line);
      last = line;
    }
    if (FAILOVER_TERMINAL.includes(f.status)) break;
    await io.sleep(500);
  }
  io.out(json ? JSON.stringify(f, null, 2) : failoverSummary(f));
  return ['succeeded', 'planned'].includes(f.status) ? EXIT.ok : EXIT.runFailed;
}

function failoverSummary(f: Failover): string {
  return [
    `failover ${f.group} ${f.from ?? '?'} → ${f.to ?? '?'}   ${f.status}   (${f.mode}${f.dryRun ? ', dry run' : ''})`,
    `id ${f.id}, requested by ${f.requestedBy} at ${shortTime(f.createdAt)}; RTO ${seconds(f.rtoSeconds)}, RPO ${seconds(f.rpoSeconds)}`,
    '',
    table(
      ['STAGE', 'STATUS', 'DURATION', 'STEPS'],
      f.stages.map((s) => [
        s.name,
        s.status,
        s.durationMs !== undefined ? `${s.durationMs} ms` : '',
        s.steps.map((x) => `${x.name}:${x.status}`).join(' '),
      ]),
    ),
    ...(f.error ? ['', `error: ${f.error.code}: ${f.error.message}`] : []),
  ].join('\n');
}

/** Runs one command; returns the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.err((err as Error).message);
    return EXIT.usage;
  }
  const [cmd] = args.positional;
  if (!cmd || cmd === 'help' || args.flags.has('help')) {
    io.out(USAGE);
    return cmd || args.flags.has('help') ? EXIT.ok : EXIT.usage;
  }
  const api = apiClient(env.STRATA_API ?? 'http://127.0.0.1:8080', env.STRATA_TOKEN);
  const json = args.flags.has('json');
  const wait = args.flags.has('wait');
  const print = (value: unknown, human: () => string) => io.out(json ? JSON.stringify(value, null, 2) : human());
  const started = async (r: { id: string; status: string }, follow: (id: string) => Promise<number>) => {
    if (wait) {
      if (!json) io.err(`run ${r.id} started`);
      return follow(r.id);
    }
    print(r, () => `${r.id}  ${r.status}`);
    return EXIT.ok;
  };
  const envPath = (stack: string, e: string) =>
    `/api/v1/stacks/${encodeURIComponent(stack)}/environments/${encodeURIComponent(e)}`;

  try {
    switch (cmd) {
      case 'deploy': {
        const [stack, environment] = need(args, 2, '<stack> <env>');
        const body = {
          stack,
          environment,
          variables: variables(args.vars),
          dryRun: args.flags.has('dry-run') || undefined,
          reason: str(args, 'reason'),
        };
        return await started(await api.post<{ id: string; status: string }>('/api/v1/deployments', body), (id) =>
          waitForRun(api, id, io, json),
        );
      }
      case 'status': {
        const [id] = need(args, 1, '<run-id>');
        const d = await api.get<Deployment>(`/api/v1/deployments/${encodeURIComponent(id)}`);
        print(d, () => runSummary(d));
        return EXIT.ok;
      }
      case 'runs':
      case 'list': {
        const q = new URLSearchParams();
        for (const [flag, key] of [
          ['stack', 'stack'],
          ['env', 'environment'],
          ['status', 'status'],
          ['kind', 'kind'],
          ['limit', 'limit'],
        ]) {
          const v = str(args, flag);
          if (v) q.set(key, v);
        }
        const { items } = await api.get<{ items: Deployment[] }>(`/api/v1/deployments${q.size ? `?${q}` : ''}`);
        print(items, () =>
          table(
            ['ID', 'KIND', 'STACK', 'ENV', 'STATUS', 'PLAN', 'BY', 'CREATED'],
            items.map((d) => [
              d.id,
              d.kind,
              d.stack,
              d.environment,
              d.status,
              d.plan ? `+${d.plan.add} ~${d.plan.change} -${d.plan.destroy}` : '',
              d.requestedBy,
              shortTime(d.createdAt),
            ]),
          ),
        );
        return EXIT.ok;
      }
      case 'plan': {
        const [id] = need(args, 1, '<run-id>');
        const p = await api.get<PlanView>(`/api/v1/deployments/${encodeURIComponent(id)}/plan`);
        print(p, () => planTable(p));
        return EXIT.ok;
      }
      case 'logs': {
        const [id] = need(args, 1, '<run-id>');
        const line = (i: { ts: string; level: string; message: string; resource?: string }) =>
          json
            ? JSON.stringify(i)
            : `${shortTime(i.ts)}  ${i.level.padEnd(5)} ${i.resource ? `[${i.resource}] ` : ''}${i.message}`;
        if (args.flags.has('follow')) {
          await api.stream(`/api/v1/deployments/${encodeURIComponent(id)}/logs`, (i) =>
            io.out(line(i as Parameters<typeof line>[0])),
          );
        } else {
          const { items } = await api.get<{ items: Parameters<typeof line>[0][] }>(
            `/api/v1/deployments/${encodeURIComponent(id)}/logs`,
          );
          for (const i of items) io.out(line(i));
        }
        return EXIT.ok;
      }
      case 'approve':
      case 'reject': {
        const [id] = need(args, 1, '<run-id>');
        const body = cmd === 'approve' ? { comment: str(args, 'comment') } : { reason: str(args, 'reason') };
        const d = await api.post<Deployment>(`/api/v1/deployments/${encodeURIComponent(id)}/${cmd}`, body);
        print(
          d,
          () =>
            `${cmd === 'approve' ? 'approved' : 'rejected'}: ${d.id} is ${d.status} (approvals ${d.approvals.length} of ${d.approvalsRequired})`,
        );
        return EXIT.ok;
      }
      case 'cancel': {
        const [id] = need(args, 1, '<run-id>');
        const r = await api.post<{ id: string; status: string }>(
          `/api/v1/deployments/${encodeURIComponent(id)}/cancel`,
        );
        print(r, () => `cancellation requested for ${r.id} (was ${r.status})`);
        return wait ? waitForRun(api, id, io, json).then((c) => (c === EXIT.runFailed ? EXIT.ok : c)) : EXIT.ok;
      }
      case 'rollback': {
        const [stack, environment, version] = need(args, 3, '<stack> <env> <version>');
        const targetVersion = Number(version.replace(/^v/, ''));
        if (!Number.isInteger(targetVersion) || targetVersion < 1)
          throw new CliError(`version must be a positive integer, got "${version}"`, EXIT.usage);
        const r = await api.post<{ id: string; status: string }>(`${envPath(stack, environment)}/rollback`, {
          targetVersion,
          reason: str(args, 'reason'),
        });
        return await started(r, (id) => waitForRun(api, id, io, json));
      }
      case 'destroy': {
        const [stack, environment] = need(args, 2, '<stack> <env>');
        const r = await api.post<{ id: string; status: string }>(`${envPath(stack, environment)}/destroy`, {
          reason: str(args, 'reason'),
        });
        return await started(r, (id) => waitForRun(api, id, io, json));
      }
      case 'history': {
        const [stack, environment] = need(args, 2, '<stack> <env>');
        const { items } = await api.get<{
          items: {
            version: number;
            kind: string;
            deploymentId: string;
            createdAt: string;
            planHash: string;
            restoredFrom?: number;
          }[];
        }>(`${envPath(stack, environment)}/state/history`);
        print(items, () =>
          table(
            ['VERSION', 'KIND', 'RUN', 'CREATED', 'PLAN'],
            items.map((v, i) => [
              `${v.version}${i === 0 ? ' *' : ''}`,
              v.restoredFrom ? `${v.kind} of v${v.restoredFrom}` : v.kind,
              v.deploymentId,
              shortTime(v.createdAt),
              v.planHash.slice(0, 12),
            ]),
          ),
        );
        return EXIT.ok;
      }
      case 'unlock': {
        const [stack, environment] = need(args, 2, '<stack> <env>');
        const r = await api.post<{ previousHolder?: string }>(`${envPath(stack, environment)}/unlock`, {
          reason: str(args, 'reason'),
        });
        print(r, () =>
          r.previousHolder
            ? `unlocked ${stack}/${environment} (was held by ${r.previousHolder})`
            : `${stack}/${environment} was not locked`,
        );
        return EXIT.ok;
      }
      case 'failover': {
        const [group] = need(args, 1, '<group>');
        const mode = str(args, 'mode') ?? 'planned';
        const r = await api.post<{ id: string; status: string }>('/api/v1/failovers', {
          group,
          mode,
          dryRun: args.flags.has('dry-run') || undefined,
          reason: str(args, 'reason'),
        });
        return await started(r, (id) => waitForFailover(api, id, io, json));
      }
      case 'failovers': {
        const id = args.positional[1];
        if (id) {
          const f = await api.get<Failover>(`/api/v1/failovers/${encodeURIComponent(id)}`);
          print(f, () => failoverSummary(f));
          return EXIT.ok;
        }
        const { items } = await api.get<{ items: Failover[] }>('/api/v1/failovers');
        print(items, () =>
          table(
            ['ID', 'GROUP', 'MODE', 'STATUS', 'RTO', 'RPO', 'BY', 'CREATED'],
            items.map((f) => [
              f.id,
              f.group,
              f.mode,
              f.status,
              seconds(f.rtoSeconds),
              seconds(f.rpoSeconds),
              f.requestedBy,
              shortTime(f.createdAt),
            ]),
          ),
        );
        return EXIT.ok;
      }
      case 'whoami': {
        const me = await api.get<{ subject: string; roles: string[]; environmentRoles: Record<string, string[]> }>(
          '/api/v1/session',
        );
        print(
          me,
          () =>
            `${me.subject} (${me.roles.join(', ')})${Object.entries(me.environmentRoles)
              .map(([e, r]) => `; ${e}: ${r.join(', ')}`)
              .join('')}`,
        );
        return EXIT.ok;
      }
      default:
        io.err(`unknown command "${cmd}"\n\n${USAGE}`);
        return EXIT.usage;
    }
  } catch (err) {
    if (err instanceof CliError) {
      if (json && err.status)
        io.out(JSON.stringify({ error: { status: err.status, code: err.code, message: err.message } }));
      io.err(`strata ${cmd}: ${err.message}`);
      return err.exitCode;
    }
    io.err(`strata ${cmd}: ${(err as Error).stack ?? String(err)}`);
    return EXIT.unavailable;
  }
}

/** Runs the command line of this process and sets its exit code (bin/strata.js, or `tsx src/cli/main.ts`). */
export function runCli(): void {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(err);
      process.exitCode = EXIT.unavailable;
    },
  );
}

if (require.main === module) runCli();
