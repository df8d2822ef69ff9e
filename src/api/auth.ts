/**
 * Who is calling: static bearer tokens from strata.yaml (stored as the token or only its SHA-256), or OIDC/JWT
 * bearer tokens verified with `jose` (signature, issuer, audience, expiry), claims mapped to roles. Roles may be
 * global or per environment; admin holds every role.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { RequestHandler } from 'express';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ROLES, type Role, type StrataConfig } from '../shared/config';
import { parseDuration } from '../shared/duration';
import { ErrorCode } from '../shared/errors';
import { hasRoleSomewhere, type Principal } from '../shared/principal';
import { HttpError } from './http-errors';

export { hasRole, rolesFor, type Principal } from '../shared/principal';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    id?: string;
  }
}

export interface Authenticator {
  /** The caller, or undefined for a token nobody issued; throws HttpError(401) naming why a JWT was refused. */
  authenticate(token: string): Principal | undefined | Promise<Principal | undefined>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Static tokens from strata.yaml: compared by SHA-256 in constant time, so a file of hashes works the same. */
export function tokenAuthenticator(config: Pick<StrataConfig, 'auth'>): Authenticator {
  const entries = config.auth.tokens.map((t) => ({
    digest: t.sha256 ? Buffer.from(t.sha256, 'hex') : sha256(t.token!),
    principal: { subject: t.subject, roles: t.roles, environmentRoles: t.environments, via: 'token' as const },
  }));
  return {
    authenticate(token) {
      const d = sha256(token);
      return entries.find((e) => timingSafeEqual(e.digest, d))?.principal;
    },
  };
}

type JwtConfig = NonNullable<StrataConfig['auth']['jwt']>;

function claim(payload: JWTPayload, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), payload);
}

/** Claim values → roles: mapped through roleMap, or taken as they are when they name a role; others ignored. */
function rolesOf(value: unknown, map: Record<string, Role>): Role[] {
  const values = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/\s+/) : [];
  const out = new Set<Role>();
  for (const v of values) {
    if (typeof v !== 'string') continue;
    const r = map[v] ?? ((ROLES as readonly string[]).includes(v) ? (v as Role) : undefined);
    if (r) out.add(r);
  }
  return [...out];
}

/** OIDC/JWT bearer tokens. Only tokens that look like a JWT (three dot-separated parts) are tried. */
export function jwtAuthenticator(jwt: JwtConfig): Authenticator {
  let key: JWTVerifyGetKey | Uint8Array;
  const algorithms: string[] = jwt.hs256Secret ? ['HS256'] : ['RS256', 'ES256', 'PS256', 'EdDSA'];
  if (jwt.hs256Secret) key = new TextEncoder().encode(jwt.hs256Secret);
  else if (jwt.jwksFile) key = createLocalJWKSet(JSON.parse(fs.readFileSync(jwt.jwksFile, 'utf8')));
  else key = createRemoteJWKSet(new URL(jwt.jwksUrl!));
  const clockTolerance = Math.round(parseDuration(jwt.clockTolerance) / 1000);
  return {
    async authenticate(token) {
      if (token.split('.').length !== 3) return undefined;
      let payload: JWTPayload;
      try {
        const verified =
          key instanceof Uint8Array
            ? await jwtVerify(token, key, {
                issuer: jwt.issuer,
                audience: jwt.audience,
                algorithms,
                clockTolerance,
                requiredClaims: ['exp'],
              })
            : await jwtVerify(token, key, {
                issuer: jwt.issuer,
                audience: jwt.audience,
                algorithms,
                clockTolerance,
                requiredClaims: ['exp'],
              });
        payload = verified.payload;
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
        throw new HttpError(
          401,
          ErrorCode.UNAUTHENTICATED,
          `bearer JWT refused: ${describeJwtError(code, err as Error)}`,
        );
      }
      const subject = claim(payload, jwt.subjectClaim);
      if (typeof subject !== 'string' || !subject)
        throw new HttpError(401, ErrorCode.UNAUTHENTICATED, `bearer JWT has no "${jwt.subjectClaim}" claim`);
      const environmentRoles: Record<string, Role[]> = {};
      const envClaim = jwt.environmentRolesClaim ? claim(payload, jwt.environmentRolesClaim) : undefined;
      if (envClaim && typeof envClaim === 'object') {
        for (const [env, v] of Object.entries(envClaim as Record<string, unknown>))
          environmentRoles[env] = rolesOf(v, jwt.roleMap);
      }
      return { subject, roles: rolesOf(claim(payload, jwt.rolesClaim), jwt.roleMap), environmentRoles, via: 'jwt' };
    },
  };
}

function describeJwtError(code: string, err: Error): string {
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `claim check failed (${err.message})`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no configured key matches the token';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'signing algorithm not allowed';
    default:
      return 'malformed or unverifiable token';
  }
}

/** Static tokens first, then (when configured) JWTs. */
export function configAuthenticator(config: Pick<StrataConfig, 'auth'>): Authenticator {
  const tokens = tokenAuthenticator(config);
  const jwt = config.auth.jwt ? jwtAuthenticator(config.auth.jwt) : undefined;
  return {
    async authenticate(token) {
      return (await tokens.authenticate(token)) ?? (await jwt?.authenticate(token));
    },
  };
}

/** 401 for a missing/unknown token. */
export function authenticate(auth: Authenticator): RequestHandler {
  return async (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S{1,8192})$/i.exec(header);
    try {
      const principal = m ? await auth.authenticate(m[1]) : undefined;
      if (!principal) {
        next(
          new HttpError(
            401,
            ErrorCode.UNAUTHENTICATED,
            m ? 'unknown bearer token' : 'missing bearer token (Authorization: Bearer <token>)',
          ),
        );
        return;
      }
      req.principal = principal;
      next();
    } catch (err) {
      next(err);
    }
  };
}

/**
 * 403 unless the caller holds one of the roles somewhere. Routes that act on one environment check the
 * role there too (a staging-only approver reaches the approve route, and is refused for a prod run).
 */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    const p = req.principal!;
    if (!roles.some((r) => hasRoleSomewhere(p, r))) {
      next(new HttpError(403, ErrorCode.FORBIDDEN, `${p.subject} needs one of the roles: ${roles.join(', ')}`));
      return;
    }
    next();
  };
}
