/**
 * Proof of who decided. Every approval or rejection that reaches a workflow carries an assertion signed
 * (HMAC-SHA256) by a configured signer: the API (for the caller it authenticated), the Slack handler (for the
 * Slack user it mapped), or a named bot key bound to one subject and its roles. The workflow has it verified by
 * an activity that holds the keys, so no key is ever in history, and a hand-written
 * `temporal workflow update --input '{"by":"alice","roles":["admin"]}'` proves nothing.
 *
 * Not imported by workflow code (uses node:crypto); the assertion's shape is in src/contracts/approval.ts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DecisionAssertion, DecisionClaims, DecisionKind } from '../contracts/approval';
import type { StrataConfig } from './config';
import { ErrorCode, StrataError } from './errors';

/** How long a freshly signed decision stays valid: long enough for a slow network, too short to replay later. */
export const DECISION_TTL_MS = 5 * 60_000;

/** The bytes a signature covers: every claim, in a fixed order, so nothing can be added or re-ordered. */
export function canonicalClaims(c: DecisionClaims): string {
  return JSON.stringify([
    c.v,
    c.keyId,
    c.runId,
    c.decision,
    c.planHash ?? null,
    c.by,
    [...c.roles].sort(),
    c.via,
    c.expiresAt,
  ]);
}

export function signDecision(claims: DecisionClaims, key: Buffer): DecisionAssertion {
  const sig = createHmac('sha256', key).update(canonicalClaims(claims)).digest('base64url');
  return { ...claims, sig };
}

/** A signer as the verifying side sees it: its key, and for bots the one subject and roles it may speak for. */
export interface SignerKey {
  id: string;
  key: Buffer;
  /** Bots: the only subject this key may sign for. */
  subject?: string;
  /** Bots: the most roles this key may claim. */
  roles?: string[];
  /** `api`, `slack`, or `bot:<id>`: recorded with the decision. */
  via: string;
}

export type VerifyOutcome = { ok: true; by: string; roles: string[]; via: string } | { ok: false; reason: string };

/** Checks signature, expiry, the run and plan it names, and a bot key's bounds. Never throws for bad input. */
export function verifyDecision(
  a: Partial<DecisionAssertion> | undefined,
  expect: { runId: string; decision: DecisionKind; planHash?: string },
  keys: Map<string, SignerKey>,
  now = Date.now(),
): VerifyOutcome {
  if (!a || typeof a !== 'object' || typeof a.sig !== 'string')
    return { ok: false, reason: 'unsigned decision (no assertion from a configured signer)' };
  const signer = typeof a.keyId === 'string' ? keys.get(a.keyId) : undefined;
  if (!signer) return { ok: false, reason: `unknown signer key "${String(a.keyId)}"` };
  if (
    a.v !== 1 ||
    typeof a.by !== 'string' ||
    !Array.isArray(a.roles) ||
    typeof a.expiresAt !== 'string' ||
    typeof a.runId !== 'string'
  ) {
    return { ok: false, reason: 'malformed assertion' };
  }
  const claims = {
    v: 1,
    keyId: a.keyId!,
    runId: a.runId,
    decision: a.decision!,
    planHash: a.planHash,
    by: a.by,
    roles: a.roles,
    via: a.via!,
    expiresAt: a.expiresAt,
  } as DecisionClaims;
  const want = Buffer.from(createHmac('sha256', signer.key).update(canonicalClaims(claims)).digest('base64url'));
  const got = Buffer.from(a.sig);
  if (want.length !== got.length || !timingSafeEqual(want, got))
    return { ok: false, reason: `signature does not verify with key "${signer.id}" (forged or altered)` };
  if (a.via !== signer.via) return { ok: false, reason: `key "${signer.id}" may not sign as "${a.via}"` };
  if (Date.parse(a.expiresAt) < now) return { ok: false, reason: `assertion expired at ${a.expiresAt}` };
  if (a.runId !== expect.runId) return { ok: false, reason: `assertion is for run ${a.runId}, not ${expect.runId}` };
  if (a.decision !== expect.decision)
    return { ok: false, reason: `assertion is a ${a.decision}, not a ${expect.decision}` };
  if (expect.planHash && a.planHash && a.planHash !== expect.planHash)
    return { ok: false, reason: `assertion names plan ${a.planHash}, not the plan awaiting approval` };
  if (signer.subject && a.by !== signer.subject)
    return { ok: false, reason: `bot key "${signer.id}" speaks only for ${signer.subject}, not ${a.by}` };
  if (signer.roles && a.roles.some((r) => !signer.roles!.includes(r)))
    return {
      ok: false,
      reason: `bot key "${signer.id}" may not claim roles ${a.roles.filter((r) => !signer.roles!.includes(r)).join(', ')}`,
    };
  return { ok: true, by: a.by, roles: a.roles, via: a.via! };
}

function readKey(
  s: { id: string; key?: string; file?: string; generate?: boolean },
  baseDir: string,
  what: string,
): Buffer {
  if (s.key) return Buffer.from(s.key, 'base64');
  if (!s.file) throw new StrataError(ErrorCode.CONFIG_INVALID, `${what} "${s.id}" needs key or file`);
  const file = path.isAbsolute(s.file) ? s.file : path.resolve(baseDir, s.file);
  if (s.generate && !fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Aside, then link()ed into place: API and worker starting together agree on one key.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  try {
    return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  } catch (err) {
    throw new StrataError(
      ErrorCode.CONFIG_INVALID,
      `cannot read ${what} "${s.id}" from ${file}: ${(err as Error).message}`,
    );
  }
}

/** Every signer the config names, for the verifying activity (all) and the API (its own and Slack's). */
export function loadSignerKeys(config: Pick<StrataConfig, 'approvalSigning' | 'baseDir'>): Map<string, SignerKey> {
  const out = new Map<string, SignerKey>();
  const { signers, bots } = config.approvalSigning;
  for (const s of signers) out.set(s.id, { id: s.id, key: readKey(s, config.baseDir, 'signer key'), via: s.id });
  for (const b of bots)
    out.set(`bot:${b.id}`, {
      id: `bot:${b.id}`,
      key: readKey(b, config.baseDir, 'bot key'),
      subject: b.subject,
      roles: b.roles,
      via: `bot:${b.id}`,
    });
  return out;
}

/** Signs a decision as one of the process's own signers (`api`, `slack`, or the worker's `release`). */
export function decisionSigner(keys: Map<string, SignerKey>, signerId: 'api' | 'slack' | 'release') {
  return (c: Omit<DecisionClaims, 'v' | 'keyId' | 'via' | 'expiresAt'>): DecisionAssertion | undefined => {
    const k = keys.get(signerId);
    if (!k) return undefined;
    return signDecision(
      { ...c, v: 1, keyId: k.id, via: k.via, expiresAt: new Date(Date.now() + DECISION_TTL_MS).toISOString() },
      k.key,
    );
  };
}
