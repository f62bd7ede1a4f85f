import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { KeyProtector } from '@ampora/keys';
import { DEFAULT_TENANT_ID, withTenant, type Clock, type Database } from '@ampora/db';
import { HttpProblem, problems } from '../../http/problem.js';
import { principalOf } from '../../http/principal.js';
import {
  recordDenied,
  requestAuditContext,
  requestMeta,
  type AuditContext,
  type AuditRecorder,
} from '../audit/audit-recorder.js';
import { CallbackQuery, LoginQuery, LogoutResponse, Me } from './auth-schemas.js';
import { OidcUnavailableError, idpUnavailable, type LoginChecks, type OidcClient } from './oidc-client.js';
import type { SessionCookies, SessionToken } from './session-cookies.js';
import type { SessionsService } from './sessions-service.js';
import { LoginRefusedError, type UsersService } from './users-service.js';

/** What sign-in needs; absent when no identity provider is configured. */
export interface LoginDeps {
  oidc: OidcClient;
  users: Pick<UsersService, 'login'>;
  sessions: SessionsService;
  cookies: SessionCookies;
  checkCsrf(request: FastifyRequest, token: SessionToken): Promise<void>;
  redirectUrl(): string;
  absoluteTimeoutSeconds: number;
}

export interface AuthRoutesDeps {
  db: Database;
  clock: Clock;
  keys: Pick<KeyProtector, 'sealToString' | 'openToString'>;
  audit: Pick<AuditRecorder, 'record'>;
  login?: LoginDeps;
}

const LOGIN_STATE_AAD = 'auth.login-state';
/** The AAD of a sealed ID token; key rotation (cli/sealed-columns.ts) rewraps it under the same one. */
export const ID_TOKEN_AAD = 'auth_sessions.id_token_sealed';
/** Time allowed between leaving for the IdP and coming back. */
const LOGIN_TTL_SECONDS = 600;

interface LoginState extends LoginChecks {
  returnTo: string;
  expiresAt: number;
}

/** Only a path on this server: never `//host`, `/\host` or a scheme, so sign-in is no open redirect. */
export function safeReturnTo(value: string | undefined): string {
  if (!value || !/^\/(?![/\\])[\x21-\x7e]*$/.test(value)) return '/';
  return value;
}

export function authRoutes(deps: AuthRoutesDeps) {
  const { login } = deps;

  async function refuseLogin(
    request: FastifyRequest,
    reason: string,
    options: { tenantId?: string; actor?: AuditContext['actor']; status?: number } = {},
  ): Promise<never> {
    const ctx: AuditContext = {
      tenantId: options.tenantId ?? DEFAULT_TENANT_ID,
      actor: options.actor ?? { kind: 'user', id: 'unknown', name: 'unknown' },
      ...requestMeta(request),
    };
    await recordDenied(
      deps.db,
      deps.audit,
      ctx,
      {
        action: 'auth.login.failed',
        entity: { type: 'credential', id: null },
        after: { method: 'oidc', reason },
      },
      (err) => request.log.error({ err }, 'could not record a failed sign-in'),
    );
    // Distinct types from the access layer's: this is a sign-in that did not complete.
    if (options.status === 403) {
      throw new HttpProblem(
        403,
        'login-denied',
        'Sign-in denied',
        'your account has no role in this Ampora tenant; ask an Admin for access',
      );
    }
    throw new HttpProblem(401, 'login-failed', 'Sign-in failed', 'sign-in did not complete; start again');
  }

  const notConfigured = () => problems.notFound('operator sign-in is not configured on this server');

  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/auth/login',
      {
        config: {
          access: { anonymous: true, why: 'starts the OIDC sign-in: redirects to the identity provider' },
        },
        schema: {
          tags: ['auth'],
          summary: 'Start sign-in (authorization code flow with PKCE)',
          querystring: LoginQuery,
          response: { 302: { type: 'null', description: 'Redirect to the identity provider' } },
        },
      },
      async (request, reply) => {
        if (!login) throw notConfigured();
        let begun;
        try {
          begun = await login.oidc.beginLogin();
        } catch (err) {
          if (err instanceof OidcUnavailableError) throw idpUnavailable(err.message);
          throw err;
        }
        const state: LoginState = {
          ...begun.checks,
          returnTo: safeReturnTo(request.query.returnTo),
          expiresAt: deps.clock.now().getTime() + LOGIN_TTL_SECONDS * 1000,
        };
        const sealed = await deps.keys.sealToString(JSON.stringify(state), LOGIN_STATE_AAD);
        login.cookies.setLogin(request, reply, sealed, LOGIN_TTL_SECONDS);
        return reply.redirect(begun.url, 302);
      },
    );

    app.get(
      '/auth/callback',
      {
        config: {
          access: {
            anonymous: true,
            why: 'the OIDC redirect target; the sealed state cookie, state, nonce and PKCE verifier protect it',
          },
        },
        schema: {
          tags: ['auth'],
          summary: 'OIDC redirect target: completes sign-in and sets the session cookie',
          querystring: CallbackQuery,
          response: { 303: { type: 'null', description: 'Redirect to where sign-in started' } },
        },
      },
      async (request, reply) => {
        if (!login) throw notConfigured();
        const sealed = login.cookies.readLogin(request);
        login.cookies.clearLogin(request, reply);
        if (!sealed) return refuseLogin(request, 'missing-login-state');
        let state: LoginState;
        try {
          state = JSON.parse(await deps.keys.openToString(sealed, LOGIN_STATE_AAD)) as LoginState;
        } catch {
          return refuseLogin(request, 'invalid-login-state');
        }
        if (state.expiresAt <= deps.clock.now().getTime()) return refuseLogin(request, 'login-state-expired');
        if (request.query.error) return refuseLogin(request, `idp:${request.query.error.slice(0, 64)}`);

        const callbackUrl = new URL(login.redirectUrl());
        callbackUrl.search = new URL(request.url, 'http://callback.invalid').search;
        let result;
        try {
          result = await login.oidc.completeLogin(callbackUrl, state);
        } catch (err) {
          if (err instanceof OidcUnavailableError) throw idpUnavailable(err.message);
          request.log.info({ err: (err as Error).message }, 'authorization response rejected');
          return refuseLogin(request, 'invalid-authorization-response');
        }

        const idTokenSealed = result.idToken
          ? await deps.keys.sealToString(result.idToken, ID_TOKEN_AAD)
          : null;
        let token: SessionToken | undefined;
        try {
          await login.users.login(result.claims, requestMeta(request), async (tx, user) => {
            token = await login.sessions.create(tx, user, idTokenSealed);
          });
        } catch (err) {
          if (!(err instanceof LoginRefusedError)) throw err;
          const sub = typeof result.claims.sub === 'string' ? result.claims.sub : 'unknown';
          return refuseLogin(request, err.reason, {
            tenantId: err.tenantId,
            actor: { kind: 'user', id: sub, name: sub },
            status: err.reason === 'missing-subject' ? 401 : 403,
          });
        }
        login.cookies.set(request, reply, token!, login.absoluteTimeoutSeconds);
        return reply.redirect(state.returnTo, 303);
      },
    );

    app.post(
      '/auth/logout',
      {
        config: {
          access: {
            anonymous: true,
            why: "ends the caller's own session; a session cookie must come with the CSRF header",
          },
        },
        schema: {
          tags: ['auth'],
          summary: 'Sign out: deletes the session and clears the cookie',
          response: { 200: LogoutResponse },
        },
      },
      async (request, reply) => {
        let redirectTo: string | null = null;
        const token = login?.cookies.read(request);
        if (login && token) {
          const principal = await login.sessions.resolve(token);
          if (principal) {
            await login.checkCsrf(request, token);
            const row = await withTenant(deps.db, token.tenantId, async (tx) => {
              const deleted = await login.sessions.destroy(tx, token);
              if (deleted) {
                await deps.audit.record(tx, requestAuditContext(request, principal), {
                  action: 'auth.logout',
                  entity: { type: 'user', id: deleted.user_id },
                });
              }
              return deleted;
            });
            const idToken = row?.id_token_sealed
              ? await deps.keys.openToString(row.id_token_sealed, ID_TOKEN_AAD).catch(() => undefined)
              : undefined;
            redirectTo = (await login.oidc.endSessionUrl(idToken)) ?? null;
          }
        }
        login?.cookies.clear(request, reply);
        return { redirectTo };
      },
    );

    app.get(
      '/api/me',
      {
        config: { access: { action: 'auth:self:read' } },
        schema: {
          tags: ['auth'],
          summary: 'Who the caller is: identity, tenant, role, and the CSRF token of a session',
          response: { 200: Me },
        },
      },
      async (request) => {
        const p = principalOf(request);
        if (p.kind !== 'user' && p.kind !== 'pat' && p.kind !== 'system') throw problems.forbidden();
        const token = p.via === 'session' ? login?.cookies.read(request) : undefined;
        return {
          kind: p.kind,
          id: p.id,
          name: p.name,
          tenantId: p.tenantId,
          role: p.role,
          via: p.via ?? 'unknown',
          ...(token && login ? { csrfToken: login.cookies.csrfToken(token) } : {}),
          ...(p.allowedEndpoints ? { allowedEndpoints: [...p.allowedEndpoints] } : {}),
        };
      },
    );
  };
}
