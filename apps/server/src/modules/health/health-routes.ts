import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface HealthDeps {
  /** Resolves true when the database answers and every migration is applied. */
  isReady: () => Promise<boolean>;
  metrics: Registry;
}

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps) {
  app.get(
    '/healthz',
    { config: { access: { anonymous: true, why: 'liveness probe' } }, logLevel: 'warn' },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    { config: { access: { anonymous: true, why: 'readiness probe' } }, logLevel: 'warn' },
    async (_request, reply) => {
      const ready = await deps.isReady().catch(() => false);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready' });
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: { anonymous: true, why: 'Prometheus scrape; restrict with NetworkPolicy' } },
      logLevel: 'warn',
    },
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.metrics()),
  );
}
