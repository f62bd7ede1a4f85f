import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { principalOf } from '../../http/principal.js';
import { problems } from '../../http/problem.js';
import type { AgentHub } from '../../gateway/agent-hub.js';

/**
 * Test-only endpoints (`AMPORA_TEST_HOOKS_ENABLED=true`, refused in production). They let end-to-end
 * tests drive server-to-agent messages before the configuration API exists.
 */
export function testHooksRoutes(hub: AgentHub) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      '/api/_test/agents/:id/remote-config',
      {
        config: { access: { action: 'agents:push' } },
        schema: {
          hide: true,
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          body: Type.Object({
            files: Type.Record(
              Type.String({ maxLength: 256 }),
              Type.Object({
                body: Type.String({ maxLength: 1_000_000 }),
                contentType: Type.String({ default: 'text/yaml', maxLength: 128 }),
              }),
            ),
          }),
          response: { 200: Type.Object({ status: Type.String() }) },
        },
      },
      async (request) => {
        const files = Object.fromEntries(
          Object.entries(request.body.files).map(([name, f]) => [
            name,
            { body: Buffer.from(f.body), contentType: f.contentType },
          ]),
        );
        const result = await hub.assignRemoteConfig(principalOf(request).tenantId, request.params.id, files);
        if (result.status === 'not-found') throw problems.notFound('agent not found');
        if (result.status === 'refused') throw problems.conflict(result.reason);
        return { status: result.status };
      },
    );
  };
}
