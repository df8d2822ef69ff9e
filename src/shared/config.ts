/**
 * strata.yaml: loaded once at start-up, validated with zod. An invalid file stops the process with a
 * message naming the path of every bad field. Secrets come from the environment (`${VAR}`), never the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE, DEFAULT_TEMPORAL_ADDRESS } from './constants';
import { parseDuration } from './duration';
import { ErrorCode, StrataError } from './errors';

/** Workflow isolate heap a sticky cache of `cached` workflows needs (MiB): the bundle, plus ~0.2 MiB per workflow. */
function workflowHeapNeededMb(cached: number): number {
  return Math.ceil(48 + 0.2 * cached);
}

const duration = z.string().refine(
  (s) => {
    try {
      parseDuration(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected a duration such as 30s, 15m, 24h or 7d' },
);

export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

const tokenSchema = z
  .strictObject({
    /** The bearer token itself (demo users), or — better — only its hex SHA-256 in `sha256`. */
    token: z.string().min(8).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')
      .optional(),
    subject: z.string().min(1),
    roles: z.array(roleSchema).default([]),
    /** Roles granted in named environments only (e.g. approver for staging). */
    environments: z.record(z.string(), z.array(roleSchema)).default({}),
  })
  .refine((t) => !!t.token !== !!t.sha256, { message: 'give exactly one of token or sha256' })
  .refine((t) => t.roles.length > 0 || Object.keys(t.environments).length > 0, {
    message: 'grant at least one role (roles or environments)',
  });

/** OIDC / JWT bearer tokens, verified with `jose`: RS256/ES256 against a JWKS (file or URL) or HS256 with a shared secret. */
const jwtSchema = z
  .strictObject({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    jwksFile: z.string().optional(),
    jwksUrl: z.string().url().optional(),
    /** HS256 shared secret, from the environment (`${STRATA_JWT_SECRET}`); meant for tests and single-tenant setups. */
    hs256Secret: z.string().min(32).optional(),
    subjectClaim: z.string().default('sub'),
    /** Claim holding the caller's groups or roles: an array of strings, or one space-separated string. */
    rolesClaim: z.string().default('roles'),
    /** Claim value → Strata role (`{"platform-admins": "admin"}`); values that already name a role map to it. */
    roleMap: z.record(z.string(), roleSchema).default({}),
    /** Optional claim `{env: [role, ...]}` granting roles per environment. */
    environmentRolesClaim: z.string().optional(),
    clockTolerance: duration.default('30s'),
  })
  .refine((j) => [j.jwksFile, j.jwksUrl, j.hs256Secret].filter(Boolean).length === 1, {
    message: 'give exactly one of jwksFile, jwksUrl or hs256Secret',
  });

const approvalPolicySchema = z.strictObject({
  required: z.number().int().min(0).max(10).default(0),
  roles: z.array(roleSchema).default(['approver', 'admin']),
  fourEyes: z.boolean().default(false),
  timeout: duration.default('72h'),
  /** Extra approvals demanded for destroy runs on top of `required`. */
  destroyRequired: z.number().int().min(0).max(10).optional(),
});
export type ApprovalPolicyConfig = z.infer<typeof approvalPolicySchema>;

const environmentSchema = z.strictObject({
  approvals: approvalPolicySchema.default({
    required: 0,
    roles: ['approver', 'admin'],
    fourEyes: false,
    timeout: '72h',
  }),
  autoRollback: z.boolean().default(false),
  drift: z.strictObject({ every: duration, remediate: z.boolean().default(false) }).optional(),
  /** An admin may override a plan's policy denial here (a recorded decision with a reason). */
  policy: z.strictObject({ allowOverride: z.boolean().default(false) }).default({ allowOverride: false }),
});
export type EnvironmentConfig = z.infer<typeof environmentSchema>;

export const PROVIDER_NAMES = ['aws', 'gcp', 'azure', 'dummy'] as const;
const providerSchema = z.strictObject({
  region: z.string().min(1),
  dryRun: z.boolean().default(false),
});

const healthCheckSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('http'),
    /** Name of a stack output holding the URL, or a literal URL. */
    output: z.string().optional(),
    url: z.string().url().optional(),
    expectStatus: z.number().int().default(200),
    timeout: duration.default('10s'),
    retries: z.number().int().min(0).default(3),
  }),
  z.strictObject({ type: z.literal('replan') }),
  /** The stack reports its own health through an output (e.g. the simulated cloud's `healthy`). */
  z.strictObject({ type: z.literal('output'), output: z.string().min(1), equals: z.unknown().default(true) }),
]);
export type HealthCheckConfig = z.infer<typeof healthCheckSchema>;

/** Where a CloudFormation stack lives: region, an endpoint override (moto, LocalStack) and the stack's name. */
const awsTargetSchema = z.strictObject({
  region: z.string().min(1),
  endpoint: z.string().url().optional(),
  /** Default: strata-<stack>-<environment>. */
  stackName: z
    .string()
    .regex(/^[A-Za-z][-A-Za-z0-9]{0,127}$/, 'a CloudFormation stack name: letters, digits and hyphens')
    .optional(),
});

/** Where a Kubernetes manifests stack goes: a kubeconfig (default: the usual lookup) and context, a namespace. */
const kubernetesTargetSchema = z.strictObject({
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  namespace: z.string().min(1).default('default'),
  readinessTimeoutSeconds: z.number().int().min(1).default(300),
});

const stackSchema = z.strictObject({
  executor: z.enum(['tofu', 'cdktf', 'simulated', 'cloudformation', 'kubernetes', 'helm']),
  path: z.string().min(1),
  description: z.string().optional(),
  /** Environments this stack may deploy to; default: all configured environments. */
  environments: z.array(z.string()).optional(),
  variables: z.record(z.string(), z.unknown()).default({}),
  failoverOrder: z.array(z.enum(PROVIDER_NAMES)).optional(),
  verify: z.array(healthCheckSchema).default([]),
  /** CloudFormation stacks: the account region (and endpoint) to deploy to. */
  aws: awsTargetSchema.optional(),
  /** Kubernetes manifest and Helm stacks: the cluster and namespace to apply to. */
  kubernetes: kubernetesTargetSchema.optional(),
});
export type StackConfig = z.infer<typeof stackSchema>;

/**
 * The kube API server of one side of a `provider: kubernetes` failover group: either `server` (with `caFile` and a
 * bearer token from `tokenFile` or `tokenEnv`, never inline: strata.yaml is committed) or a `kubeconfig` path.
 */
const kubeClusterSchema = z
  .strictObject({
    server: z.string().url({ message: 'expected the https:// URL of the kube API server' }).optional(),
    /** PEM of the CA that signed the API server's certificate (default: the system's trust store). */
    caFile: z.string().min(1).optional(),
    /** File holding the bearer token (a mounted service-account token, say). */
    tokenFile: z.string().min(1).optional(),
    /** Environment variable of the worker holding the bearer token. */
    tokenEnv: z.string().min(1).optional(),
    kubeconfig: z.string().min(1).optional(),
    /** Context of `kubeconfig` (default: its current-context). */
    context: z.string().min(1).optional(),
  })
  .refine((c) => !!c.server !== !!c.kubeconfig, {
    message: 'give exactly one of server (with caFile and tokenFile or tokenEnv) or kubeconfig',
  })
  .refine((c) => !c.server || !!c.tokenFile !== !!c.tokenEnv, {
    message: 'a server needs exactly one of tokenFile or tokenEnv (the bearer token never goes into strata.yaml)',
  })
  .refine((c) => !c.kubeconfig || (!c.caFile && !c.tokenFile && !c.tokenEnv), {
    message: 'caFile, tokenFile and tokenEnv go with server, not with kubeconfig (the kubeconfig carries its own)',
  });

/** The kinds of object a kubernetes failover group moves between its clusters. */
export const KUBE_FAILOVER_KINDS = [
  'Deployment',
  'StatefulSet',
  'CronJob',
  'Kustomization',
  'HelmRelease',
  'VolumeReplication',
] as const;
export type KubeFailoverKind = (typeof KUBE_FAILOVER_KINDS)[number];

const kubeObjectName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, { message: 'expected namespace/name' });

/** What a `provider: kubernetes` group moves: the same objects (by namespace and name) exist in both clusters. */
const kubeFailoverSchema = z
  .strictObject({
    /** Namespaces searched with `selector`. */
    namespaces: z.array(z.string().min(1)).min(1).optional(),
    /** Label selector of the group's objects in `namespaces` (e.g. `app.kubernetes.io/part-of=shop`). */
    selector: z.string().min(1).optional(),
    /** With `selector`: the kinds the group uses (default all); only their CRDs must be installed. */
    kinds: z.array(z.enum(KUBE_FAILOVER_KINDS)).min(1).optional(),
    /** Instead of a selector: the group's objects per kind, as `namespace/name`. */
    objects: z.partialRecord(z.enum(KUBE_FAILOVER_KINDS), z.array(kubeObjectName).min(1)).optional(),
    /** How traffic reaches the active side: an Istio VirtualService whose destinations name each side's host. */
    routing: z
      .strictObject({
        virtualService: z.strictObject({
          name: kubeObjectName,
          /** The destination host of each side; the switch moves the weight (or the one destination) to the target's. */
          hosts: z.strictObject({ primary: z.string().min(1), secondary: z.string().min(1) }),
          /** The clusters holding a copy of the VirtualService (default both). */
          clusters: z
            .array(z.enum(['primary', 'secondary']))
            .min(1)
            .default(['primary', 'secondary']),
        }),
      })
      .optional(),
    /** How long promotion waits for VolumeReplication status (default 5m; demotion and reattachment at most 4m). */
    replicationTimeout: duration.default('5m'),
  })
  .refine((k) => !!k.selector !== !!k.objects, {
    message: 'give exactly one of selector (with namespaces) or objects',
  })
  .refine((k) => !k.selector || !!k.namespaces, { message: 'a selector needs namespaces to search' })
  .refine((k) => !k.objects || !k.kinds, { message: 'kinds goes with selector; with objects the kinds are its keys' });
export type KubeFailoverConfig = z.infer<typeof kubeFailoverSchema>;

const regionSide = z.strictObject({
  region: z.string().min(1),
  /** provider: kubernetes: the side's cluster. */
  kubernetes: kubeClusterSchema.optional(),
  route53Zone: z.string().optional(),
  recordName: z.string().optional(),
  asg: z.string().optional(),
  targetGroupArn: z.string().optional(),
  dbInstance: z.string().optional(),
  dbReplica: z.string().optional(),
  endpoint: z.string().optional(),
  /**
   * The capacity this side takes as the target (default: what the source runs). Kubernetes: the replicas of each
   * workload when the source's counts are unreadable (an emergency) and no former count is recorded on it.
   */
  capacity: z.number().int().min(0).optional(),
});

const failoverGroupSchema = z
  .strictObject({
    provider: z.enum(['simulated', 'aws', 'kubernetes']),
    /** AWS endpoint (moto, LocalStack); for kubernetes groups the one of the DynamoDB global state. */
    endpoint: z.string().optional(),
    /** provider: kubernetes: the group's objects and routing (each side names its cluster). */
    kubernetes: kubeFailoverSchema.optional(),
    primary: regionSide,
    secondary: regionSide,
    health: z
      .strictObject({
        every: duration.default('10s'),
        failuresToTrigger: z.number().int().min(1).default(3),
        url: z.string().url().optional(),
        timeout: duration.default('5s'),
        autoStart: z.boolean().default(false),
      })
      .default({ every: '10s', failuresToTrigger: 3, timeout: '5s', autoStart: false }),
    approval: z
      .strictObject({
        required: z.number().int().min(0).default(1),
        roles: z.array(roleSchema).default(['approver', 'admin']),
        /** Whoever requested the failover may not approve it. */
        fourEyes: z.boolean().default(false),
        timeout: duration.default('1h'),
      })
      .default({ required: 1, roles: ['approver', 'admin'], fourEyes: false, timeout: '1h' }),
    globalStateTable: z.string().default('strata-failover-state'),
    /**
     * Region of the global-state table (default: the secondary's, which an emergency failover never abandons). Use a
     * DynamoDB global table to survive either region. Groups whose state an older release kept in the primary's
     * region are refused until this names that region (or the item is moved).
     */
    globalStateRegion: z.string().optional(),
  })
  .superRefine((g, ctx) => {
    if (g.provider !== 'kubernetes') {
      if (g.kubernetes)
        ctx.addIssue({ code: 'custom', path: ['kubernetes'], message: 'only for provider: kubernetes' });
      return;
    }
    if (!g.kubernetes)
      ctx.addIssue({
        code: 'custom',
        path: ['kubernetes'],
        message:
          'provider: kubernetes needs the group objects (kubernetes.selector with namespaces, or kubernetes.objects)',
      });
    for (const side of ['primary', 'secondary'] as const)
      if (!g[side].kubernetes)
        ctx.addIssue({
          code: 'custom',
          path: [side, 'kubernetes'],
          message: `provider: kubernetes needs the ${side}'s cluster (server with caFile and tokenFile or tokenEnv, or kubeconfig)`,
        });
  });
export type FailoverGroupConfig = z.infer<typeof failoverGroupSchema>;

const stateStoreSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('filesystem'),
    path: z.string().default('.data/state'),
    retainVersions: z.number().int().min(1).default(10),
  }),
  z.strictObject({
    kind: z.literal('s3'),
    bucket: z.string().min(1),
    prefix: z.string().default('strata/'),
    region: z.string().default('us-east-1'),
    endpoint: z.string().optional(),
    retainVersions: z.number().int().min(1).default(10),
  }),
]);
export type StateStoreConfig = z.infer<typeof stateStoreSchema>;

export const configSchema = z.strictObject({
  temporal: z
    .strictObject({
      address: z.string().default(DEFAULT_TEMPORAL_ADDRESS),
      namespace: z.string().default(DEFAULT_NAMESPACE),
      taskQueue: z.string().default(DEFAULT_TASK_QUEUE),
      uiPort: z.number().int().default(8233),
      dbFile: z.string().default('.data/temporal.sqlite'),
      /** Base URL of the Temporal Web UI for links from Strata's pages (default: http://<address host>:<uiPort>). */
      uiUrl: z.string().url().optional(),
    })
    .default({
      address: DEFAULT_TEMPORAL_ADDRESS,
      namespace: DEFAULT_NAMESPACE,
      taskQueue: DEFAULT_TASK_QUEUE,
      uiPort: 8233,
      dbFile: '.data/temporal.sqlite',
    }),
  api: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      bodyLimit: z.string().default('256kb'),
      /** The longest `GET /deployments/:id?wait=S` is held open (a larger S is answered after this many seconds). */
      maxWaitSeconds: z.number().min(0).max(60).default(60),
    })
    .default({ host: '127.0.0.1', port: 8080, bodyLimit: '256kb', maxWaitSeconds: 60 }),
  auth: z
    .strictObject({
      tokens: z.array(tokenSchema).default([]),
      jwt: jwtSchema.optional(),
      /** Mutating requests per caller per minute (burst: a tenth of it, at least 5); 0 switches the limit off. */
      rateLimitPerMinute: z.number().int().min(0).default(300),
    })
    .default({ tokens: [], rateLimitPerMinute: 300 }),
  /** Slack approve/reject buttons. Secrets come from the environment: `${SLACK_SIGNING_SECRET}`, `${SLACK_BOT_TOKEN}`. */
  slack: z
    .strictObject({
      signingSecret: z.string().optional(),
      botToken: z.string().optional(),
      channel: z.string().default('#deployments'),
      apiUrl: z.string().url().default('https://slack.com/api'),
      /** Slack user id → Strata subject; the subject's roles come from `auth.tokens`. */
      users: z.record(z.string(), z.string()).default({}),
      /** Public URL of the API, for links in messages. */
      publicUrl: z.string().optional(),
    })
    .optional(),
  /**
   * Payload encryption (AES-256-GCM) for everything Strata stores in Temporal. Keys newest first: payloads are
   * encrypted with the first and decrypted with any. No keys: payloads are stored as plain JSON.
   */
  codec: z
    .strictObject({
      keys: z
        .array(
          z.strictObject({
            id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
            /** base64 of 32 bytes, from the environment (`${STRATA_CODEC_KEY}`). */
            key: z.string().optional(),
            /** A file holding the base64 key; relative to the config file. */
            file: z.string().optional(),
            /** Create the file with a random key on first start (local development). */
            generate: z.boolean().default(false),
          }),
        )
        .default([]),
      /** Origins allowed to call the codec server from a browser (the Temporal Web UI). */
      uiOrigins: z.array(z.string().url()).default([]),
      /**
       * Let the Web UI's origins decode without a bearer token. The dev server's UI cannot send one; only for a
       * loopback-bound quick start, never where others can reach the API.
       */
      uiWithoutToken: z.boolean().default(false),
    })
    .default({ keys: [], uiOrigins: [], uiWithoutToken: false }),
  /**
   * Who may vouch for a decision. `signers` are Strata's own (the API for its authenticated callers, the Slack
   * handler for mapped Slack users); `bots` are keys bound to one subject and its roles. API and workers need
   * the same keys: from the environment (`${VAR}`, base64 of 32 bytes) or a shared file.
   */
  approvalSigning: z
    .strictObject({
      /** Refuse unsigned decisions wherever approvals are required. */
      required: z.boolean().default(true),
      signers: z
        .array(
          z.strictObject({
            // `release`: the worker's key for the approvals a release passes on to its stacks' runs.
            id: z.enum(['api', 'slack', 'release']),
            key: z.string().optional(),
            file: z.string().optional(),
            generate: z.boolean().default(false),
          }),
        )
        .default([]),
      bots: z
        .array(
          z.strictObject({
            id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
            subject: z.string().min(1),
            roles: z.array(roleSchema).min(1),
            key: z.string().optional(),
            file: z.string().optional(),
          }),
        )
        .default([]),
    })
    .default({ required: true, signers: [], bots: [] }),
  /** Policy as code: Rego files evaluated by OPA against every plan (`deny` blocks approval, `warn` is shown). */
  policy: z
    .strictObject({
      enabled: z.boolean().default(true),
      dir: z.string().default('policies'),
      timeout: duration.default('30s'),
    })
    .default({ enabled: true, dir: 'policies', timeout: '30s' }),
  /** Cost estimates: the dated offline price table every plan is priced from. */
  pricing: z
    .strictObject({ table: z.string().default('pricing/2026-11-01.yaml') })
    .default({ table: 'pricing/2026-11-01.yaml' }),
  /** Multi-stack releases: where `{name}` files live, and defaults of a release request. */
  releases: z
    .strictObject({
      dir: z.string().default('releases'),
      maxParallel: z.number().int().min(1).max(50).default(4),
      approval: z.enum(['release', 'stack']).default('release'),
    })
    .default({ dir: 'releases', maxParallel: 4, approval: 'release' }),
  /** The stack locks' run queue: who may ask for `priority: high` (rollbacks a person requests are high anyway). */
  runQueue: z
    .strictObject({ highPriorityRoles: z.array(roleSchema).default(['admin']) })
    .default({ highPriorityRoles: ['admin'] }),
  environments: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), environmentSchema),
  providers: z.partialRecord(z.enum(PROVIDER_NAMES), providerSchema).default({}),
  stacks: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), stackSchema),
  failoverGroups: z.record(z.string(), failoverGroupSchema).default({}),
  stateStore: stateStoreSchema.default({ kind: 'filesystem', path: '.data/state', retainVersions: 10 }),
  workDir: z.string().default('.data/work'),
  /** Where key files named without a directory live (codec and signer keys); STRATA_KEYS_DIR overrides. */
  keysDir: z.string().default('.data/keys'),
  artifactsDir: z.string().default('.data/artifacts'),
  /**
   * Where workers resolve `{ secret: NAME }` variables, only inside the activity that runs the tool: the worker's
   * environment (`fromEnv`) and/or a file of NAME=value lines (dotenv) or a JSON object, readable by its owner only.
   */
  secrets: z
    .strictObject({
      fromEnv: z.boolean().default(true),
      file: z.string().optional(),
    })
    .default({ fromEnv: true }),
  /**
   * Worker tuning. `maxCachedWorkflows`: workflows kept in memory between their tasks (sticky cache). A run waiting
   * for an approval or the lock costs memory while cached; past this many the least recently used is evicted and
   * replayed from history when it next gets a task (a few ms for a run's short history). Each cached workflow
   * costs about 0.2 MiB of the workflow isolate's heap (measured with 2,000 open deployment and lock workflows),
   * so the heap must hold the whole cache: an isolate that runs out of heap stops the worker.
   */
  worker: z
    .strictObject({
      maxCachedWorkflows: z.number().int().min(0).default(250),
      /**
       * Heap limit of the isolate workflows run in (MiB). V8 sizes a heap from the machine's memory (4 GiB on a
       * 24 GiB machine) and collects garbage lazily below it: replays and evicted runs then pile up as RSS.
       */
      workflowHeapMb: z.number().int().min(64).default(256),
      maxConcurrentActivityTaskExecutions: z.number().int().min(1).default(100),
      maxConcurrentLocalActivityExecutions: z.number().int().min(1).default(100),
      maxConcurrentWorkflowTaskExecutions: z.number().int().min(2).default(40),
    })
    .superRefine((w, ctx) => {
      const needed = workflowHeapNeededMb(w.maxCachedWorkflows);
      if (w.workflowHeapMb < needed)
        ctx.addIssue({
          code: 'custom',
          path: ['workflowHeapMb'],
          message: `${w.workflowHeapMb} MiB cannot hold ${w.maxCachedWorkflows} cached workflows (about 0.2 MiB each plus 48 MiB): give at least ${needed}, or lower maxCachedWorkflows`,
        });
    })
    .default({
      maxCachedWorkflows: 250,
      workflowHeapMb: 256,
      maxConcurrentActivityTaskExecutions: 100,
      maxConcurrentLocalActivityExecutions: 100,
      maxConcurrentWorkflowTaskExecutions: 40,
    }),
  /** Traces and worker metrics; everything is off unless named here (or `${VAR}` fills it in). */
  telemetry: z
    .strictObject({
      /** OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`): one trace from request through workflow to activity. */
      otlpEndpoint: z.string().url().optional(),
      serviceName: z.string().min(1).optional(),
      /** `host:port` where the worker serves its Temporal SDK metrics for Prometheus (`/metrics`). */
      workerMetricsAddress: z
        .string()
        .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
        .optional(),
    })
    .default({}),
});

/** The validated configuration, with relative paths resolved against the config file's directory. */
export type StrataConfig = z.infer<typeof configSchema> & { baseDir: string; configPath?: string };

/** Replaces `${VAR}` with the environment's value; an unset variable becomes an empty string (then dropped). */
function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    const replaced = value.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => env[name] ?? '');
    return replaced === '' && value !== '' ? undefined : replaced;
  }
  if (Array.isArray(value)) return value.map((v) => interpolateEnv(v, env));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = interpolateEnv(v, env);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  return value;
}

/** Formats zod issues as `path.to.field: message` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Validates an already-parsed config object. Throws CONFIG_INVALID naming each bad field. */
export function parseConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): StrataConfig {
  const result = configSchema.safeParse(interpolateEnv(raw ?? {}, env));
  if (!result.success) {
    const lines = formatIssues(result.error.issues);
    throw new StrataError(ErrorCode.CONFIG_INVALID, `invalid configuration:\n  ${lines.join('\n  ')}`, lines);
  }
  const cfg = result.data;
  for (const [name, stack] of Object.entries(cfg.stacks)) {
    for (const envName of stack.environments ?? []) {
      if (!cfg.environments[envName]) {
        throw new StrataError(
          ErrorCode.CONFIG_INVALID,
          `invalid configuration:\n  stacks.${name}.environments: unknown environment "${envName}" (known: ${Object.keys(cfg.environments).join(', ')})`,
        );
      }
    }
  }
  // Environment variables win over the file for where Temporal and the API live.
  if (env.TEMPORAL_ADDRESS) cfg.temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) cfg.temporal.namespace = env.TEMPORAL_NAMESPACE;
  if (env.TEMPORAL_TASK_QUEUE) cfg.temporal.taskQueue = env.TEMPORAL_TASK_QUEUE;
  if (env.PORT) cfg.api.port = Number(env.PORT);
  if (env.HOST) cfg.api.host = env.HOST;
  if (env.STRATA_STATE_DIR && cfg.stateStore.kind === 'filesystem') cfg.stateStore.path = env.STRATA_STATE_DIR;
  if (cfg.codec.uiWithoutToken && !['127.0.0.1', 'localhost', '::1'].includes(cfg.api.host)) {
    // Token-less decoding is a loopback convenience; on a reachable address it would hand out every payload.
    throw new StrataError(
      ErrorCode.CONFIG_INVALID,
      `invalid configuration:\n  codec.uiWithoutToken: only allowed while api.host is a loopback address (it is ${cfg.api.host})`,
    );
  }
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(baseDir, p));
  cfg.temporal.dbFile = abs(cfg.temporal.dbFile);
  if (cfg.auth.jwt?.jwksFile) cfg.auth.jwt.jwksFile = abs(cfg.auth.jwt.jwksFile);
  cfg.workDir = abs(env.STRATA_WORK_DIR ?? cfg.workDir);
  cfg.artifactsDir = abs(env.STRATA_ARTIFACTS_DIR ?? cfg.artifactsDir);
  // Key files named without a directory live in keysDir, which every process of one machine shares (API and
  // workers must hold the same keys); several machines share keys through the environment instead.
  cfg.keysDir = abs(
    env.STRATA_KEYS_DIR ?? (env.STRATA_DATA_DIR ? path.join(env.STRATA_DATA_DIR, 'keys') : cfg.keysDir),
  );
  const keyFile = (f: string) => (f.includes('/') ? abs(f) : path.join(cfg.keysDir, f));
  // Signed decisions are on by default: without configured signers, the API and the Slack handler get local
  // keys generated once.
  if (cfg.approvalSigning.signers.length === 0) {
    cfg.approvalSigning.signers = (['api', 'slack', 'release'] as const).map((id) => ({
      id,
      file: `signer-${id}.key`,
      generate: true,
    }));
  }
  for (const k of [...cfg.codec.keys, ...cfg.approvalSigning.signers, ...cfg.approvalSigning.bots])
    if (k.file) k.file = keyFile(k.file);
  if (cfg.stateStore.kind === 'filesystem') cfg.stateStore.path = abs(cfg.stateStore.path);
  if (cfg.secrets.file) cfg.secrets.file = abs(cfg.secrets.file);
  for (const stack of Object.values(cfg.stacks)) stack.path = abs(stack.path);
  // A kubernetes failover group's files are relative to strata.yaml, like every other path in it.
  for (const g of Object.values(cfg.failoverGroups))
    for (const side of [g.primary, g.secondary]) {
      const k = side.kubernetes;
      if (!k) continue;
      for (const f of ['kubeconfig', 'caFile', 'tokenFile'] as const) if (k[f]) k[f] = abs(k[f]);
    }
  cfg.policy.dir = abs(cfg.policy.dir);
  cfg.pricing.table = abs(cfg.pricing.table);
  cfg.releases.dir = abs(cfg.releases.dir);
  return { ...cfg, baseDir };
}

/** Loads `STRATA_CONFIG` or `strata.yaml` from the project root. */
export function loadConfig(file = process.env.STRATA_CONFIG ?? 'strata.yaml', env = process.env): StrataConfig {
  const configPath = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (err) {
    throw new StrataError(
      ErrorCode.CONFIG_INVALID,
      `cannot read configuration file ${configPath}: ${(err as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new StrataError(
      ErrorCode.CONFIG_INVALID,
      `configuration file ${configPath} is not valid YAML: ${(err as Error).message}`,
    );
  }
  return { ...parseConfig(raw, path.dirname(configPath), env), configPath };
}

/** Environments a stack may deploy to. */
export function stackEnvironments(cfg: StrataConfig, stack: string): string[] {
  return cfg.stacks[stack]?.environments ?? Object.keys(cfg.environments);
}
