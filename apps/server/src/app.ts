import cookie from '@fastify/cookie';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Clock, Database, IdSource } from '@ampora/db';
import type { Config } from './config/index.js';
import { DOCS_PREFIX, installOpenApi } from './http/openapi.js';
import { installProblemHandlers } from './http/problem.js';
import { installRateLimits } from './http/rate-limit.js';
import { denyAll, installRouteAccess, type AccessControl } from './http/route-access.js';
import { commaList, installCors, installSecurityHeaders } from './http/security-headers.js';
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
  // Order matters: headers first (so refusals carry them too), then CORS, then the per-address
  // bucket, then authentication, the per-principal bucket and authorization.
  await installSecurityHeaders(app);
  const cors = commaList(deps.config.http.corsOrigins);
  await installCors(app, cors);
  // Cookies are parsed in an onRequest hook, which must run before authentication's.
  await app.register(cookie);
  const limitPrincipal = await installRateLimits(app, {
    clock: deps.clock,
    principalPerMinute: deps.config.http.rateLimit.principalPerMinute,
    ipPerMinute: deps.config.http.rateLimit.ipPerMinute,
    exempt: PROBES,
  });
  installRouteAccess(app, deps.access ?? (() => denyAll), {
    anonymousPrefixes: [
      { prefix: DOCS_PREFIX, why: 'API reference page (static assets of the OpenAPI viewer)' },
      ...(cors.length ? [{ prefix: '*', why: 'CORS preflight; answers with CORS headers only' }] : []),
    ],
    afterAuthenticate: limitPrincipal,
  });
  await installOpenApi(app, API_VERSION);
  await app.register(healthRoutes, { isReady: deps.isReady, metrics: deps.metrics });
  for (const mod of deps.modules ?? []) await app.register(mod);
  return app;
}

const API_VERSION = '0.1.0';
/** Probes and the metrics scrape are never rate limited: an orchestrator must always reach them. */
const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

function parseTrustedProxies(value: string): string[] | false {
  const list = commaList(value);
  return list.length ? list : false;
}
