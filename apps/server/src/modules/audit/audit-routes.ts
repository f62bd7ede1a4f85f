import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/principal.js';
import { requestAuditContext } from './audit-recorder.js';
import { AuditEventList, AuditVerifyResult, ListAuditEventsQuery } from './audit-schemas.js';
import type { AuditService } from './audit-service.js';

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
        if (request.query.includeArchive) await request.authorize('audit:archive:read');
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
