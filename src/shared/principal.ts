/** Who is calling, and what they may do where. Services and routes share it; the approval gate gets `rolesFor(env)`. */
import type { Role } from './config';

export interface Principal {
  subject: string;
  /** Roles held in every environment. */
  roles: Role[];
  /** Roles held only in the named environments. */
  environmentRoles?: Record<string, Role[]>;
  /** How the caller proved who they are: a static token, a JWT, or a trusted integration. */
  via?: 'token' | 'jwt' | 'slack' | 'web-ui';
}

/** The caller's roles in one environment (global roles plus that environment's grants). */
export function rolesFor(p: Principal, environment?: string): Role[] {
  const extra = environment ? (p.environmentRoles?.[environment] ?? []) : [];
  return [...new Set([...p.roles, ...extra])];
}

/** True when the caller holds `role` (admin holds every role) — in `environment`, or globally when none is named. */
export function hasRole(p: Principal, role: Role, environment?: string): boolean {
  const roles = rolesFor(p, environment);
  return roles.includes('admin') || roles.includes(role);
}

/** True when the caller holds `role` in at least one environment: enough to reach a route that checks the environment itself. */
export function hasRoleSomewhere(p: Principal, role: Role): boolean {
  if (hasRole(p, role)) return true;
  return Object.values(p.environmentRoles ?? {}).some((rs) => rs.includes('admin') || rs.includes(role));
}
