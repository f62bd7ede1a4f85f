import { withTenant, type Clock, type Database, type Tx } from '@ampora/db';
import type { Principal } from '../../http/principal.js';
import { findSession } from './auth-queries.js';
import { newSessionToken, type SessionToken } from './session-cookies.js';

export interface SessionsServiceDeps {
  db: Database;
  clock: Clock;
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
}

/** Activity is recorded at this resolution, so that a busy UI does not write on every request. */
const TOUCH_RESOLUTION_MS = 60_000;

/**
 * Server-side sessions. The row is the session: deleting it signs the browser out at once, on
 * every replica, whatever the cookie says. A session ends after `idleTimeoutMs` without a request,
 * or `absoluteTimeoutMs` after sign-in, whichever comes first.
 */
export function createSessionsService(deps: SessionsServiceDeps) {
  return {
    /** Inserts the session in the login's transaction. */
    async create(tx: Tx, user: { id: string; tenantId: string }, idTokenSealed: string | null) {
      const token = newSessionToken(user.tenantId);
      const now = deps.clock.now();
      // Sign-in is a good moment to drop this user's dead sessions.
      await tx
        .deleteFrom('auth_sessions')
        .where('user_id', '=', user.id)
        .where((eb) =>
          eb.or([
            eb('expires_at', '<=', now),
            eb('last_seen_at', '<=', new Date(now.getTime() - deps.idleTimeoutMs)),
          ]),
        )
        .execute();
      await tx
        .insertInto('auth_sessions')
        .values({
          token_hash: token.hash,
          tenant_id: user.tenantId,
          user_id: user.id,
          created_at: now,
          last_seen_at: now,
          expires_at: new Date(now.getTime() + deps.absoluteTimeoutMs),
          id_token_sealed: idTokenSealed,
        })
        .execute();
      return token;
    },

    /** The signed-in user of a live session, or undefined (unknown, idle too long, or expired). */
    async resolve(token: SessionToken): Promise<Principal | undefined> {
      return withTenant(deps.db, token.tenantId, async (tx) => {
        const row = await findSession(tx, token.hash);
        if (!row) return undefined;
        const now = deps.clock.now().getTime();
        const idle = now - row.last_seen_at.getTime();
        if (row.expires_at.getTime() <= now || idle >= deps.idleTimeoutMs) {
          await tx.deleteFrom('auth_sessions').where('token_hash', '=', token.hash).execute();
          return undefined;
        }
        if (idle >= TOUCH_RESOLUTION_MS) {
          await tx
            .updateTable('auth_sessions')
            .set({ last_seen_at: new Date(now) })
            .where('token_hash', '=', token.hash)
            .execute();
        }
        return {
          kind: 'user',
          id: row.sub,
          name: row.name ?? row.email ?? row.sub,
          tenantId: token.tenantId,
          role: row.role,
          via: 'session',
          userId: row.user_id,
        } satisfies Principal;
      });
    },

    /** Deletes the session; returns its sealed ID token (for the logout hint) when it existed. */
    async destroy(tx: Tx, token: SessionToken) {
      const row = await tx
        .deleteFrom('auth_sessions')
        .where('token_hash', '=', token.hash)
        .returning(['user_id', 'id_token_sealed'])
        .executeTakeFirst();
      return row;
    },
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
