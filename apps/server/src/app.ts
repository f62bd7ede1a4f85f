import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Clock, Database, IdSource } from '@ampora/db';
import type { Config } from './config/index.js';
import { installProblemHandlers } from './http/problem.js';
import { denyAll, installRouteAccess, type AccessControl } from './http/route-access.js';
import { healthRoutes } from './modules/health/health-routes.js';
import type { Logger } from './observability/logger.js';

/** Everything the HTTP app needs, built by the composition root (`main.ts`) or by a test. */
export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  metrics: Registry;
  clock: Clock;
  ids: IdSource;
  isReady: () => Promise<boolean>;
  /** The modules that serve the REST API; each is an encapsulated Fastify plugin. */
  modules?: Array<(app: FastifyInstance) => Promise<void>>;
  access?: () => AccessControl;
}

export type App = FastifyInstance;

/** Builds the operator-facing HTTP app (REST API, probes, metrics) without listening. */
export async function build(deps: AppDeps): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.http.bodyLimitBytes,
    trustProxy: parseTrustedProxies(deps.config.http.trustedProxies),
    genReqId: () => deps.ids.uuid(),
    requestIdHeader: false,
    return503OnClosing: true,
  });

  installProblemHandlers(app);
  installRouteAccess(app, deps.access ?? (() => denyAll));
  await app.register(healthRoutes, { isReady: deps.isReady, metrics: deps.metrics });
  for (const mod of deps.modules ?? []) await app.register(mod);
  return app;
}

function parseTrustedProxies(value: string): string[] | false {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length ? list : false;
}
