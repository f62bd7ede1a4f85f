import type { FastifyRequest } from 'fastify';
import { decide, type Decision, type PrincipalKind, type Role } from '@ampora/authz';
import { DEFAULT_TENANT_ID } from '@ampora/db';
import { problems } from './problem.js';
import type { AccessControl } from './route-access.js';

export type { Role };

/** Who is calling, resolved by authentication before any handler runs. */
export interface Principal {
  kind: PrincipalKind;
  id: string;
  name: string;
  tenantId: string;
  role: Role;
  /** How the caller proved who it is. Only `session` requests carry ambient credentials (CSRF). */
  via?: 'session' | 'bearer' | 'pat' | 'local';
  /** The `auth_users` row of a signed-in user or of a PAT's issuer. */
  userId?: string;
  /** PATs only: `METHOD /path` patterns the token is limited to. */
  allowedEndpoints?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The authenticated principal of a protected route; the access hook guarantees it is set. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw problems.unauthorized();
  return request.principal;
}

/**
 * Whether the caller may take `action` on this server, given the request it made (a PAT reaches
 * only the endpoints it was limited to). Installation-scoped actions belong to the default
 * tenant, the installation's own.
 */
export function decideFor(
  principal: Principal,
  action: string,
  request?: { method: string; path: string },
): Decision {
  return decide(principal, action, {
    ...(request ? { request } : {}),
    installationTenantId: DEFAULT_TENANT_ID,
  });
}

/**
 * Local development without an identity provider (`AMPORA_API_INSECURE_NO_AUTH=true`): every
 * request acts as an Admin of the default tenant. Refused in production mode.
 */
export const insecureLocalAccess: AccessControl = {
  authenticate: async (request) => {
    request.principal = {
      kind: 'system',
      id: 'local',
      name: 'local-development',
      tenantId: DEFAULT_TENANT_ID,
      role: 'admin',
      via: 'local',
    };
  },
  authorize: async () => {},
};
