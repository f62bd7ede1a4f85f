import { decide } from '@ampora/authz';
import { DEFAULT_TENANT_ID } from '@ampora/db';
import type { Role } from '../../apps/server/src/http/principal.js';
import { problems } from '../../apps/server/src/http/problem.js';
import type { AccessControl } from '../../apps/server/src/http/route-access.js';

/**
 * Access control for route tests: a caller picks its role (`x-role`, default Viewer) and tenant
 * (`x-tenant`, default `tenantOf()`) by header, and the route's action is decided by the real
 * action table, with the default tenant as the installation's own, as the server decides it.
 */
export function headerAccess(tenantOf: () => string): AccessControl {
  return {
    authenticate: async (request) => {
      request.principal = {
        kind: 'user',
        id: 'sub-caller',
        name: 'Caller',
        tenantId: (request.headers['x-tenant'] as string | undefined) ?? tenantOf(),
        role: (request.headers['x-role'] as Role | undefined) ?? 'viewer',
      };
    },
    authorize: async (request, action) => {
      const decision = decide(request.principal!, action, { installationTenantId: DEFAULT_TENANT_ID });
      if (!decision.allowed) throw problems.forbidden();
    },
  };
}
