import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { RouteAccess } from './route-access.js';

export const OPENAPI_PATH = '/api/openapi.json';
export const DOCS_PREFIX = '/api/docs';

/**
 * Collects every route's schemas into an OpenAPI 3.1 document. Must be registered before the
 * routes. Each operation carries its access rule as `x-ampora-access` (the action, or
 * `anonymous`), and anonymous operations declare no security requirement.
 */
export async function installOpenApi(app: FastifyInstance, version: string) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ampora API',
        version,
        description:
          'Management API of the Ampora OpAMP server. Errors are application/problem+json (RFC 9457).',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'ampora_session' },
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An access token from the configured OpenID Provider, or a PAT (amp-pat.…)',
          },
        },
      },
      security: [{ session: [] }, { bearer: [] }],
    },
    transform: ({ schema, url, route }) => {
      const access = route.config?.access as RouteAccess | undefined;
      const base = (schema ?? {}) as Record<string, unknown>;
      const extra =
        access && 'anonymous' in access
          ? { security: [], 'x-ampora-access': 'anonymous' }
          : { 'x-ampora-access': access?.action };
      return { schema: { ...base, ...extra } as typeof schema, url };
    },
  });

  app.get(
    OPENAPI_PATH,
    {
      config: { access: { anonymous: true, why: 'the API description is public, like the API reference' } },
      schema: { hide: true },
    },
    async () => app.swagger(),
  );

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { url: OPENAPI_PATH, deepLinking: true },
  });
}
