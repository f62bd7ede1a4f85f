import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { decide } from '@ampora/authz';
import { principalOf, type Principal } from '../../http/principal.js';
import { problems } from '../../http/problem.js';
import { requestAuditContext } from './audit-recorder.js';
import { AuditEventList, AuditVerifyResult, ListAuditEventsQuery } from './audit-schemas.js';
import type { AuditService } from './audit-service.js';

/** A second, stricter action inside a route: the route's own rule has already let the caller in. */
function assertAllowed(request: FastifyRequest, principal: Principal, action: string) {
  const decision = decide(principal, action, {
    tenantId: principal.tenantId,
    request: { method: request.method, path: request.url.split('?')[0]! },
  });
  if (!decision.allowed) throw problems.forbidden(`${action} is required`);
}

export function auditRoutes(service: AuditService) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/audit/events',
      {
        config: { access: { action: 'audit:read' } },
        schema: {
          tags: ['audit'],
          summary: 'Search the audit trail',
          description:
            'Newest first. `includeArchive=true` also searches the archive tier; it needs `audit:archive:read` (Admin) and is itself recorded as an `audit.archive.read` event.',
          querystring: ListAuditEventsQuery,
          response: { 200: AuditEventList },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        if (request.query.includeArchive) assertAllowed(request, principal, 'audit:archive:read');
        return service.list(requestAuditContext(request, principal), request.query);
      },
    );

    app.get(
      '/api/audit/verify',
      {
        config: { access: { action: 'audit:verify' } },
        schema: {
          tags: ['audit'],
          summary: "Verify the caller's tenant audit chain",
          description:
            'Recomputes every hash of the chain, hot and archive, and checks it against the signed checkpoints and the chain head. Reads the whole chain: expect about a minute per million events.',
          response: { 200: AuditVerifyResult },
        },
      },
      async (request) => service.verify(principalOf(request).tenantId),
    );
  };
}
