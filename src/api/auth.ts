/** Bearer-token auth with roles (viewer, deployer, approver, admin). Admin holds every role. */
import type { RequestHandler } from 'express';
import type { Role, StrataConfig } from '../shared/config';
import { ErrorCode } from '../shared/errors';
import { HttpError } from './http-errors';

export interface Principal {
  subject: string;
  roles: Role[];
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    id?: string;
  }
}

export interface Authenticator {
  authenticate(token: string): Principal | undefined;
}

/** Static tokens from strata.yaml (the quick start's demo users). */
export function tokenAuthenticator(config: Pick<StrataConfig, 'auth'>): Authenticator {
  const byToken = new Map(config.auth.tokens.map((t) => [t.token, { subject: t.subject, roles: t.roles }]));
  return { authenticate: (token) => byToken.get(token) };
}

export function hasRole(p: Principal, role: Role): boolean {
  return p.roles.includes('admin') || p.roles.includes(role);
}

/** 401 for a missing/unknown token. */
export function authenticate(auth: Authenticator): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const principal = m ? auth.authenticate(m[1]) : undefined;
    if (!principal) {
      next(new HttpError(401, ErrorCode.UNAUTHENTICATED, m ? 'unknown bearer token' : 'missing bearer token (Authorization: Bearer <token>)'));
      return;
    }
    req.principal = principal;
    next();
  };
}

/** 403 unless the caller holds one of the roles. */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    const p = req.principal!;
    if (!roles.some((r) => hasRole(p, r))) {
      next(new HttpError(403, ErrorCode.FORBIDDEN, `${p.subject} needs one of the roles: ${roles.join(', ')}`));
      return;
    }
    next();
  };
}
