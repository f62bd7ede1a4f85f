import type { FastifyRequest } from 'fastify';
import { JwtVerificationError, TokenFormatError, parseToken } from '@ampora/authz';
import { DEFAULT_TENANT_ID, type Database } from '@ampora/db';
import { HttpProblem, problems } from '../../http/problem.js';
import { decideFor, principalOf, type Principal } from '../../http/principal.js';
import type { AccessControl } from '../../http/route-access.js';
import type { Logger } from '../../observability/logger.js';
import {
  recordDenied,
  requestAuditContext,
  requestMeta,
  type AuditContext,
  type AuditedChange,
  type AuditRecorder,
} from '../audit/audit-recorder.js';
import { OidcUnavailableError, idpUnavailable, type OidcClient } from './oidc-client.js';
import type { PatsService } from './pats-service.js';
import { PatRefusedError } from './pats-service.js';
import { CSRF_HEADER, type SessionCookies, type SessionToken } from './session-cookies.js';
import type { SessionsService } from './sessions-service.js';
import { LoginRefusedError, displayName, type UsersService } from './users-service.js';

export interface AccessControlDeps {
  db: Database;
  logger: Logger;
  audit: Pick<AuditRecorder, 'record'>;
  oidc: Pick<OidcClient, 'verifyBearer'>;
  users: Pick<UsersService, 'tenantOf' | 'bearerRole'>;
  pats: Pick<PatsService, 'authenticate'>;
  sessions: Pick<SessionsService, 'resolve'>;
  cookies: SessionCookies;
  /** The UI's origin (from the public URL); undefined derives it from the request. */
  publicOrigin?: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)$/i;

const unknownActor = { kind: 'user' as const, id: 'unknown', name: 'unknown' };

/**
 * Authentication and authorization of the REST API.
 *
 * Credentials, in order: an `Authorization: Bearer` header carrying a PAT (`amp-pat.…`) or a JWT
 * from the configured issuer; otherwise the session cookie. Nothing else identifies a caller:
 * identity headers set by proxies (X-Forwarded-User, X-Auth-Request-Email, Remote-User, …) are
 * ignored, because anyone who reaches the server directly could set them.
 *
 * Refusals are audited in a transaction of their own (the request makes no change to commit
 * with): `auth.login.failed` for a bad credential, `auth.access.denied` for a role that does not
 * reach the route's action. Tokens appear in audit events only as an HMAC.
 */
export function createAccessControl(deps: AccessControlDeps): AccessControl & {
  checkCsrf(request: FastifyRequest, token: SessionToken): Promise<void>;
} {
  function recordRefusal(
    request: FastifyRequest,
    tenantId: string,
    actor: AuditContext['actor'],
    change: Omit<AuditedChange, 'outcome'>,
  ) {
    return recordDenied(deps.db, deps.audit, { tenantId, actor, ...requestMeta(request) }, change, (err) =>
      request.log.error({ err }, 'could not record an authentication refusal'),
    );
  }

  async function failed(
    request: FastifyRequest,
    method: 'pat' | 'bearer' | 'session',
    reason: string,
    options: { tenantId?: string; actor?: AuditContext['actor']; token?: string } = {},
  ): Promise<never> {
    await recordRefusal(request, options.tenantId ?? DEFAULT_TENANT_ID, options.actor ?? unknownActor, {
      action: 'auth.login.failed',
      entity: { type: 'credential', id: null },
      after: { method, reason, ...(options.token ? { token: options.token } : {}) },
      secretKeys: ['token'],
    });
    throw problems.unauthorized();
  }

  async function fromPat(request: FastifyRequest, token: string): Promise<Principal> {
    try {
      parseToken(token, 'pat');
    } catch (err) {
      if (err instanceof TokenFormatError) return failed(request, 'pat', err.problem, { token });
      throw err;
    }
    try {
      return await deps.pats.authenticate(token);
    } catch (err) {
      if (!(err instanceof PatRefusedError)) throw err;
      return failed(request, 'pat', err.reason, {
        tenantId: err.tenantId,
        actor: err.pat ? { kind: 'pat', id: err.pat.id, name: err.pat.name } : undefined,
        token,
      });
    }
  }

  async function fromJwt(request: FastifyRequest, token: string): Promise<Principal> {
    let claims: Record<string, unknown>;
    try {
      claims = (await deps.oidc.verifyBearer(token)).claims;
    } catch (err) {
      if (err instanceof OidcUnavailableError) throw idpUnavailable();
      if (err instanceof JwtVerificationError) {
        if (err.problem === 'jwks-unavailable') throw idpUnavailable();
        return failed(request, 'bearer', err.problem, { token });
      }
      throw err;
    }
    const name = displayName(claims);
    const actor = { kind: 'user' as const, id: String(claims.sub ?? 'unknown'), name };
    try {
      const tenantId = await deps.users.tenantOf(claims);
      const { sub, role, userId } = await deps.users.bearerRole(tenantId, claims);
      return { kind: 'user', id: sub, name, tenantId, role, via: 'bearer', ...(userId ? { userId } : {}) };
    } catch (err) {
      if (!(err instanceof LoginRefusedError)) throw err;
      return failed(request, 'bearer', err.reason, { tenantId: err.tenantId, actor, token });
    }
  }

  async function checkCsrf(request: FastifyRequest, token: SessionToken) {
    if (SAFE_METHODS.has(request.method)) return;
    const site = request.headers['sec-fetch-site'];
    const origin = request.headers.origin;
    const expected = deps.publicOrigin ?? `${request.protocol}://${request.host}`;
    const sameSite = site === undefined || site === 'same-origin';
    const sameOrigin = origin === undefined || origin === expected;
    const header = request.headers[CSRF_HEADER];
    const tokenOk = deps.cookies.csrfMatches(token, typeof header === 'string' ? header : undefined);
    if (sameSite && sameOrigin && tokenOk) return;
    const principal = request.principal;
    await recordRefusal(
      request,
      token.tenantId,
      principal ? { kind: principal.kind, id: principal.id, name: principal.name } : unknownActor,
      {
        action: 'auth.access.denied',
        entity: { type: 'route', id: `${request.method} ${request.routeOptions.url ?? request.url}` },
        after: { reason: 'csrf', sameSite, sameOrigin, token: tokenOk ? 'valid' : 'missing-or-invalid' },
      },
    );
    throw new HttpProblem(
      403,
      'csrf',
      'Cross-site request refused',
      `a request authenticated by the session cookie must send the ${CSRF_HEADER} header from the same origin`,
    );
  }

  async function fromSession(request: FastifyRequest): Promise<Principal> {
    const token = deps.cookies.read(request);
    // A missing or stale cookie is not an attack worth an audit event; a forged one is.
    if (!token) {
      if (deps.cookies.present(request)) return failed(request, 'session', 'bad-signature');
      throw problems.unauthorized();
    }
    const principal = await deps.sessions.resolve(token);
    if (!principal) throw problems.unauthorized('the session has ended; sign in again');
    request.principal = principal;
    await checkCsrf(request, token);
    return principal;
  }

  return {
    async authenticate(request) {
      const header = request.headers.authorization;
      let principal: Principal;
      if (header !== undefined) {
        const match = BEARER.exec(header);
        if (!match) return failed(request, 'bearer', 'malformed-authorization-header');
        const token = match[1]!;
        principal = token.startsWith('amp-pat.')
          ? await fromPat(request, token)
          : await fromJwt(request, token);
      } else {
        principal = await fromSession(request);
      }
      request.principal = principal;
    },

    async authorize(request, action) {
      const principal = principalOf(request);
      const decision = decideFor(principal, action, { method: request.method, path: request.url });
      if (decision.allowed) return;
      // Without a resource tenant here, `tenant` cannot occur; object-level checks answer 404 via RLS.
      await recordRefusal(request, principal.tenantId, requestAuditContext(request, principal).actor, {
        action: 'auth.access.denied',
        entity: { type: 'route', id: `${request.method} ${request.routeOptions.url ?? request.url}` },
        after: { action, reason: decision.reason, role: principal.role },
      });
      throw problems.forbidden(
        decision.reason === 'endpoint'
          ? 'this token is not allowed to call this endpoint'
          : decision.reason === 'installation'
            ? "this action changes what every tenant shares; only Admins of the installation's own tenant may take it"
            : `this action needs a role your ${principal.kind === 'pat' ? 'token' : 'account'} does not have`,
      );
    },

    checkCsrf,
  };
}
