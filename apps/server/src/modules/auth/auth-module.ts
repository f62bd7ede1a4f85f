import type { FastifyInstance } from 'fastify';
import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { createAccessControl } from './access-control.js';
import { authAdminRoutes } from './auth-admin-routes.js';
import { authRoutes, type LoginDeps } from './auth-routes.js';
import { resolveAuthSettings } from './auth-settings.js';
import { createOidcClient } from './oidc-client.js';
import { createPatsService } from './pats-service.js';
import { createSessionCookies } from './session-cookies.js';
import { createSessionsService } from './sessions-service.js';
import { createUsersService, type UsersService } from './users-service.js';

/**
 * Operator identity. With an identity provider configured (`AMPORA_AUTH_OIDC_ISSUER`), this module
 * is the API's access control: sessions from OIDC sign-in, bearer JWTs from the same issuer, and
 * PATs. Without one, its routes still exist (sign-in answers 404) and the composition root falls
 * back to deny-all, or to the local-development principal when that is explicitly allowed.
 */
export interface AuthModule extends ServerModule {
  /** Who the person behind a principal is, for other modules (four-eyes approvals). */
  users: Pick<UsersService, 'subjectOf'>;
}

export function authModule(ctx: ServerContext): AuthModule {
  const settings = resolveAuthSettings(ctx.config, ctx.httpPort);
  const { db, clock, ids, audit, logger } = ctx;
  const users = createUsersService({
    db,
    clock,
    ids,
    audit,
    claims: {
      roleClaim: ctx.config.auth.oidc.roleClaim,
      groupsClaim: ctx.config.auth.oidc.groupsClaim,
      tenantClaim: ctx.config.auth.oidc.tenantClaim,
    },
  });
  const pats = createPatsService({ db, clock, ids, audit });
  const admin = authAdminRoutes({ users, pats });

  if (!settings) {
    const routes = authRoutes({ db, clock, keys: ctx.keys, audit });
    return { name: 'auth', routes: both(routes, admin), users };
  }

  const oidc = createOidcClient(settings, { clock, logger: logger.child({ component: 'oidc' }) });
  const sessions = createSessionsService({
    db,
    clock,
    idleTimeoutMs: settings.idleTimeoutMs,
    absoluteTimeoutMs: settings.absoluteTimeoutMs,
  });
  const cookies = createSessionCookies({
    cookieKey: ctx.keys.deriveSecret('session-cookie'),
    csrfKey: ctx.keys.deriveSecret('csrf-token'),
  });
  const accessControl = createAccessControl({
    db,
    logger,
    audit,
    oidc,
    users,
    pats,
    sessions,
    cookies,
    publicOrigin: ctx.config.http.publicUrl ? new URL(ctx.config.http.publicUrl).origin : undefined,
  });
  const login: LoginDeps = {
    oidc,
    users,
    sessions,
    cookies,
    checkCsrf: accessControl.checkCsrf,
    redirectUrl: settings.redirectUrl,
    absoluteTimeoutSeconds: Math.floor(settings.absoluteTimeoutMs / 1000),
  };
  const routes = authRoutes({ db, clock, keys: ctx.keys, audit, login });
  return { name: 'auth', routes: both(routes, admin), accessControl, users };
}

function both(
  a: (app: FastifyInstance) => Promise<void>,
  b: (app: FastifyInstance) => Promise<void>,
): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    await app.register(a);
    await app.register(b);
  };
}
