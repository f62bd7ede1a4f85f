import type { FastifyInstance, FastifyRequest } from 'fastify';
import { problems } from './problem.js';

/**
 * What a route requires. Every route must declare one, or the server refuses to start: the
 * default is deny, and a forgotten declaration is a start-up error rather than an open endpoint.
 */
export type RouteAccess =
  /** Probes, public PKI, the OIDC callback: reachable without a principal. `why` documents the choice. */
  | { anonymous: true; why: string }
  /** An action from the authorization table; the principal's role must allow it. */
  | { action: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

/** Resolves the caller of a request, or throws a 401 problem. */
export type Authenticate = (request: FastifyRequest) => Promise<void>;
/** Throws a 403/404 problem when the authenticated caller may not perform `action`. */
export type Authorize = (request: FastifyRequest, action: string) => Promise<void>;

export interface AccessControl {
  authenticate: Authenticate;
  authorize: Authorize;
}

/** Used until an identity provider is wired: refuses every protected route. */
export const denyAll: AccessControl = {
  authenticate: async () => {
    throw problems.unauthorized();
  },
  authorize: async () => {
    throw problems.forbidden();
  },
};

export function installRouteAccess(app: FastifyInstance, control: () => AccessControl) {
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    // HEAD routes are generated from GET routes and share their config.
    if (!access && route.method !== 'HEAD') {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access rule`);
    }
  });
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config?.access;
    if (!access) return; // 404s and framework routes: nothing to guard
    if ('anonymous' in access) return;
    const { authenticate, authorize } = control();
    await authenticate(request);
    await authorize(request, access.action);
  });
}
