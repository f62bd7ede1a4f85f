import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { signerFactory } from '@fastify/cookie';
import { hashToken } from '@ampora/authz';
import { isUuid } from '@ampora/db';

export const SESSION_COOKIE = 'ampora_session';
/** Readable by the UI's script: it echoes the value in the X-CSRF-Token header. */
export const CSRF_COOKIE = 'ampora_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** Holds the sealed state, nonce and PKCE verifier between /auth/login and /auth/callback. */
export const LOGIN_COOKIE = 'ampora_login';
export const LOGIN_COOKIE_PATH = '/auth/callback';

export interface SessionToken {
  /** `<tenant id>.<32 random bytes, base64url>`: the tenant tells which RLS context to look in. */
  value: string;
  tenantId: string;
  /** What the database stores. */
  hash: string;
}

export function newSessionToken(tenantId: string): SessionToken {
  const value = `${tenantId}.${randomBytes(32).toString('base64url')}`;
  return { value, tenantId, hash: hashToken(value) };
}

/**
 * Cookie signing and the CSRF token, both under keys derived from the master key: every replica
 * agrees on them, and rotating the master key signs everyone out.
 */
export function createSessionCookies(keys: { cookieKey: Buffer; csrfKey: Buffer }) {
  const signer = signerFactory(keys.cookieKey, 'sha256');

  const secure = (request: FastifyRequest) => request.protocol === 'https';

  return {
    /** The session token of the request's cookie, when its signature holds and its shape is right. */
    read(request: FastifyRequest): SessionToken | undefined {
      const raw = request.cookies?.[SESSION_COOKIE];
      if (!raw) return undefined;
      const unsigned = signer.unsign(raw);
      if (!unsigned.valid || !unsigned.value) return undefined;
      const dot = unsigned.value.indexOf('.');
      const tenantId = unsigned.value.slice(0, dot);
      if (dot < 0 || !isUuid(tenantId)) return undefined;
      return { value: unsigned.value, tenantId, hash: hashToken(unsigned.value) };
    },

    /** True when a session cookie is present at all, valid or not. */
    present(request: FastifyRequest): boolean {
      return Boolean(request.cookies?.[SESSION_COOKIE]);
    },

    /** HttpOnly, SameSite=Lax (sent on the IdP's top-level redirect back), Secure behind TLS. */
    set(request: FastifyRequest, reply: FastifyReply, token: SessionToken, maxAgeSeconds: number) {
      reply.setCookie(SESSION_COOKIE, signer.sign(token.value), {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: secure(request),
        maxAge: maxAgeSeconds,
      });
      reply.setCookie(CSRF_COOKIE, this.csrfToken(token), {
        path: '/',
        httpOnly: false,
        sameSite: 'strict',
        secure: secure(request),
        maxAge: maxAgeSeconds,
      });
    },

    clear(request: FastifyRequest, reply: FastifyReply) {
      for (const name of [SESSION_COOKIE, CSRF_COOKIE]) {
        reply.clearCookie(name, { path: '/', secure: secure(request) });
      }
    },

    setLogin(request: FastifyRequest, reply: FastifyReply, sealed: string, maxAgeSeconds: number) {
      reply.setCookie(LOGIN_COOKIE, sealed, {
        path: LOGIN_COOKIE_PATH,
        httpOnly: true,
        sameSite: 'lax',
        secure: secure(request),
        maxAge: maxAgeSeconds,
      });
    },

    readLogin(request: FastifyRequest): string | undefined {
      return request.cookies?.[LOGIN_COOKIE] || undefined;
    },

    clearLogin(request: FastifyRequest, reply: FastifyReply) {
      reply.clearCookie(LOGIN_COOKIE, { path: LOGIN_COOKIE_PATH, secure: secure(request) });
    },

    /** HMAC of the session token: bound to one session, useless to anyone who cannot read it. */
    csrfToken(token: SessionToken): string {
      return createHmac('sha256', keys.csrfKey).update(token.value).digest('base64url');
    },

    csrfMatches(token: SessionToken, presented: string | undefined): boolean {
      if (!presented) return false;
      const expected = Buffer.from(this.csrfToken(token));
      const given = Buffer.from(presented);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

export type SessionCookies = ReturnType<typeof createSessionCookies>;
