import { generateToken, hashToken } from '@ampora/authz';
import { isUuid, withTenant, type Tx } from '@ampora/db';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../../http/cursor.js';
import { problems } from '../../http/problem.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import type { ServerContext } from '../../runtime/context.js';
import {
  deleteToken,
  insertToken,
  listTokens,
  lookupToken,
  redeemToken,
  tokenExists,
} from './enrollment-queries.js';

export const MIN_TOKEN_TTL_SECONDS = 15 * 60;
export const MAX_TOKEN_TTL_SECONDS = 168 * 3600;

export interface EnrollmentServiceDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit'> {
  defaultTokenTtlSeconds: number;
}

export interface NewToken {
  label: string;
  ttlSeconds?: number;
  group?: string;
}

type TokenRow = Awaited<ReturnType<typeof listTokens>>[number];

export type Redemption =
  | { ok: true; tokenId: string; label: string; initialGroup: string | null; poolId: string | null }
  | { ok: false; reason: 'token_already_used' | 'token_expired' };

function tokenView(r: TokenRow, now: Date) {
  return {
    id: r.id,
    label: r.label,
    group: r.initial_group,
    poolId: r.pool_id,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    expired: r.expires_at.getTime() <= now.getTime(),
  };
}

/**
 * The TTL rule and the one place a token is made, shared with the pools service so a token minted
 * from a pool is stored, audited and returned exactly like one an operator issues.
 */
export function createTokenIssuer(
  deps: Pick<EnrollmentServiceDeps, 'clock' | 'ids' | 'audit' | 'defaultTokenTtlSeconds'>,
) {
  const { clock, ids, audit } = deps;

  function ttlOf(seconds: number | undefined): number {
    const ttl = seconds ?? deps.defaultTokenTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < MIN_TOKEN_TTL_SECONDS || ttl > MAX_TOKEN_TTL_SECONDS) {
      throw problems.badRequest(
        `ttlSeconds must be between ${MIN_TOKEN_TTL_SECONDS} (15 min) and ${MAX_TOKEN_TTL_SECONDS} (168 h)`,
      );
    }
    return ttl;
  }

  async function issue(
    tx: Tx,
    ctx: AuditContext,
    input: { label: string; ttlSeconds: number; group: string | null; poolId: string | null },
  ) {
    const token = generateToken('bootstrap');
    const now = clock.now();
    const row = {
      tenant_id: ctx.tenantId,
      id: ids.uuid(),
      token_hash: hashToken(token),
      label: input.label,
      initial_group: input.group,
      pool_id: input.poolId,
      created_by: ctx.actor.name,
      created_at: now,
      expires_at: new Date(now.getTime() + input.ttlSeconds * 1000),
    };
    await insertToken(tx, row);
    const view = tokenView(row, now);
    await audit.record(tx, ctx, {
      action: 'enrollment.token.create',
      entity: { type: 'enrollment_token', id: row.id },
      after: { ...view, token },
      secretKeys: ['token'],
    });
    return { ...view, token };
  }

  return { ttlOf, issue };
}

/**
 * Bootstrap tokens and their redemption. A token's plaintext leaves this service exactly once, in
 * the answer to its creation; only its SHA-256 is stored, and audit rows see only its HMAC.
 */
export function createEnrollmentService(deps: EnrollmentServiceDeps) {
  const { db, clock, audit } = deps;
  const { ttlOf, issue } = createTokenIssuer(deps);

  return {
    /** Issues a bootstrap token; the answer is the only place its plaintext ever appears. */
    createToken(ctx: AuditContext, input: NewToken) {
      const ttlSeconds = ttlOf(input.ttlSeconds);
      return withTenant(db, ctx.tenantId, (tx) =>
        issue(tx, ctx, { label: input.label, ttlSeconds, group: input.group ?? null, poolId: null }),
      );
    },

    async listTokens(tenantId: string, query: { limit: number; cursor?: string }) {
      const after = query.cursor ? decodeTimeIdCursor(query.cursor) : undefined;
      const rows = await withTenant(db, tenantId, (tx) => listTokens(tx, query.limit + 1, after));
      const now = clock.now();
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => tokenView(r, now)),
        nextCursor: rows.length > query.limit && last ? encodeTimeIdCursor(last.created_at, last.id) : null,
      };
    },

    async deleteToken(ctx: AuditContext, id: string) {
      if (!isUuid(id)) throw problems.notFound('token not found');
      await withTenant(db, ctx.tenantId, async (tx) => {
        const row = await deleteToken(tx, id);
        if (!row) throw problems.notFound('token not found');
        await audit.record(tx, ctx, {
          action: 'enrollment.token.delete',
          entity: { type: 'enrollment_token', id },
          before: tokenView(row, clock.now()),
        });
      });
    },

    /** Admission: which tenant holds this token hash, and whether it is live, redeemed or expired. */
    async lookupToken(tokenHash: string) {
      const row = await lookupToken(db, tokenHash);
      if (!row) return undefined;
      return {
        tenantId: row.tenant_id,
        tokenId: row.token_id,
        state: row.state,
        expiresAt: row.expires_at,
      };
    },

    /**
     * Redeems a token inside the caller's transaction (tenant context set): deletes it, and leaves
     * a tombstone naming the agent, so a second use is told apart from a forgery.
     */
    async redeem(tx: Tx, tenantId: string, tokenHash: string, agentId: string): Promise<Redemption> {
      const now = clock.now();
      const row = await redeemToken(tx, { tenantId, tokenHash, agentId, now });
      if (!row) {
        const still = await tokenExists(tx, tokenHash);
        return { ok: false, reason: still ? 'token_expired' : 'token_already_used' };
      }
      return {
        ok: true,
        tokenId: row.id,
        label: row.label,
        initialGroup: row.initial_group,
        poolId: row.pool_id,
      };
    },
  };
}

export type EnrollmentService = ReturnType<typeof createEnrollmentService>;
