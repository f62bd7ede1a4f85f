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

/** One row of the route table: what each registered route requires. */
export interface RouteAccessEntry {
  method: string;
  url: string;
  access: RouteAccess;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyInstance {
    /** Every route and its access rule, in registration order (HEAD routes left out). */
    routeAccessList(): readonly RouteAccessEntry[];
  }
  interface FastifyRequest {
    /**
     * A second, stricter action inside a route whose own rule let the caller in. It goes through
     * the same authorizer as the route's rule, so a refusal is answered and audited the same way.
     */
    authorize(action: string): Promise<void>;
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

export interface RouteAccessOptions {
  /**
   * Routes registered by third-party plugins that cannot carry a route config (the API reference
   * page's static assets): every route under `prefix` is anonymous, for the reason given.
   */
  anonymousPrefixes?: ReadonlyArray<{ prefix: string; why: string }>;
  /** Runs between authentication and authorization (the per-principal rate limit). */
  afterAuthenticate?: (request: FastifyRequest) => Promise<void>;
}

export function installRouteAccess(
  app: FastifyInstance,
  control: () => AccessControl,
  options: RouteAccessOptions = {},
) {
  const table: RouteAccessEntry[] = [];
  app.decorate('routeAccessList', () => table);
  app.decorateRequest('authorize', function (this: FastifyRequest, action: string) {
    return control().authorize(this, action);
  });
  app.addHook('onRoute', (route) => {
    if (!route.config?.access) {
      const granted = options.anonymousPrefixes?.find((p) => route.url.startsWith(p.prefix));
      if (granted) route.config = { ...route.config, access: { anonymous: true, why: granted.why } };
    }
    const access = route.config?.access;
    // HEAD routes are generated from GET routes and share their config.
    if (!access && route.method !== 'HEAD') {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access rule`);
    }
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') table.push({ method, url: route.url, access: access! });
    }
  });
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config?.access;
    if (!access) return; // 404s and framework routes: nothing to guard
    if ('anonymous' in access) return;
    const { authenticate, authorize } = control();
    await authenticate(request);
    await options.afterAuthenticate?.(request);
    await authorize(request, access.action);
  });
}
