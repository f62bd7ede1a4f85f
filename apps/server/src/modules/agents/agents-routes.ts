import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { principalOf } from '../../http/principal.js';
import { AgentDetail, AgentId, AgentList, ListAgentsQuery } from './agents-schemas.js';
import type { AgentsService } from './agents-service.js';

export function agentsRoutes(service: AgentsService) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/agents',
      {
        config: { access: { action: 'agents:read' } },
        schema: {
          tags: ['agents'],
          summary: 'List agents',
          querystring: ListAgentsQuery,
          response: { 200: AgentList },
        },
      },
      async (request) => service.list(principalOf(request).tenantId, request.query),
    );

    app.get(
      '/api/agents/:id',
      {
        config: { access: { action: 'agents:read' } },
        schema: {
          tags: ['agents'],
          summary: 'Get one agent with its full reported state',
          params: Type.Object({ id: AgentId }),
          response: { 200: AgentDetail },
        },
      },
      async (request) => service.get(principalOf(request).tenantId, request.params.id),
    );
  };
}
