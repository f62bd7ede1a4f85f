import { generateSecret, hashToken, verifySecret } from '@ampora/authz';
import { isUniqueViolation, isUuid, withTenant } from '@ampora/db';
import { problems } from '../../http/problem.js';
import { recordDenied, type AuditContext, type RequestMeta } from '../audit/audit-recorder.js';
import type { ServerContext } from '../../runtime/context.js';
import {
  deletePool,
  getPool,
  getPoolForUpdate,
  insertPool,
  listPools,
  poolTenant,
  rotatePoolSecret,
} from './enrollment-queries.js';
import { createTokenIssuer, type EnrollmentServiceDeps } from './enrollment-service.js';
import { createTokenBuckets } from '../../http/token-buckets.js';

/** Longest overlap during which a rotated pool secret still mints: enough to roll the new one out. */
export const MAX_SECRET_GRACE_SECONDS = 3600;

/** Compared against when there is no stored hash, so a missing pool costs the same as a wrong secret. */
const NO_HASH = '0'.repeat(64);

/** A pool mints tokens, so it takes everything the token service does. */
export interface TokenPoolsServiceDeps extends EnrollmentServiceDeps, Pick<ServerContext, 'logger'> {
  poolTokensPerMinute: number;
  /** Failed pool-secret checks allowed per client address per minute. */
  poolFailuresPerMinute?: number;
}

export interface NewPool {
  name: string;
  tokenTtlSeconds?: number;
  defaultGroup?: string;
}

export interface SecretRotation {
  /** Seconds the replaced secret keeps minting (0: it stops at once). */
  graceSeconds?: number;
}

type PoolRow = Awaited<ReturnType<typeof listPools>>[number];
type StoredPool = NonNullable<Awaited<ReturnType<typeof getPool>>>;

/** Whoever holds a pool's admin secret acts as the pool. */
const poolActor = (pool: { id: string; name: string }) => ({
  kind: 'system' as const,
  id: `pool:${pool.id}`,
  name: `token pool ${pool.name}`,
});

function poolView(r: PoolRow) {
  return {
    id: r.id,
    name: r.name,
    tokenTtlSeconds: r.token_ttl_seconds,
    defaultGroup: r.default_group,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    secretRotatedAt: r.secret_rotated_at?.toISOString() ?? null,
  };
}

/**
 * Token pools: whoever holds a pool's admin secret mints bootstrap tokens for the pool's tenant.
 * The secret, like a token, is returned once and stored only as a hash.
 */
export function createTokenPoolsService(deps: TokenPoolsServiceDeps) {
  const { db, clock, ids, audit, logger } = deps;
  const { ttlOf, issue } = createTokenIssuer(deps);
  const poolBuckets = createTokenBuckets(clock, deps.poolTokensPerMinute);
  const failureBuckets = createTokenBuckets(clock, deps.poolFailuresPerMinute ?? 30);

  /**
   * Audits a refused pool secret (outcome `denied`) in a transaction of its own, without waiting
   * for it: the refusal costs the caller no more than any other, and a failed write only loses the
   * event. Refusals are bounded by the per-address failure limit that precedes this.
   */
  function refusePoolSecret(
    tenantId: string,
    pool: { id: string; name: string },
    meta: RequestMeta,
    reason: 'missing_secret' | 'wrong_secret' | 'secret_rotated',
  ) {
    const ctx: AuditContext = { tenantId, actor: poolActor(pool), ...meta };
    void recordDenied(
      db,
      audit,
      ctx,
      {
        action: 'enrollment.pool.secret.refused',
        entity: { type: 'enrollment_pool', id: pool.id },
        after: { reason },
      },
      (err) =>
        logger.error(
          { err: (err as Error).message, poolId: pool.id },
          'could not audit a refused pool secret',
        ),
    );
  }

  /**
   * Checks a presented secret against a pool's current and replaced secrets. Both hashes are
   * always checked, against a dummy when absent (or with no pool), so every refusal costs the same.
   */
  function checkSecret(pool: StoredPool | undefined, secret: string | undefined) {
    const current = verifySecret(secret ?? '', pool?.secret_hash ?? NO_HASH);
    const previous = verifySecret(secret ?? '', pool?.previous_secret_hash ?? NO_HASH);
    const overlap =
      previous &&
      !!pool?.previous_secret_expires_at &&
      clock.now().getTime() < pool.previous_secret_expires_at.getTime();
    return { current, previous, accepted: !!pool && !!secret && (current || overlap) };
  }

  return {
    /** Creates a pool; its admin secret is returned here once and stored only as a hash. */
    createPool(ctx: AuditContext, input: NewPool) {
      const tokenTtlSeconds = ttlOf(input.tokenTtlSeconds);
      const adminSecret = generateSecret();
      const row = {
        tenant_id: ctx.tenantId,
        id: ids.uuid(),
        name: input.name,
        secret_hash: hashToken(adminSecret),
        token_ttl_seconds: tokenTtlSeconds,
        default_group: input.defaultGroup ?? null,
        created_by: ctx.actor.name,
        created_at: clock.now(),
        secret_rotated_at: null,
      };
      return withTenant(db, ctx.tenantId, async (tx) => {
        try {
          await insertPool(tx, row);
        } catch (err) {
          // unique (tenant_id, name): the name is taken in this tenant.
          if (isUniqueViolation(err)) throw problems.conflict(`a token pool named ${input.name} exists`);
          throw err;
        }
        const view = poolView(row);
        await audit.record(tx, ctx, {
          action: 'enrollment.pool.create',
          entity: { type: 'enrollment_pool', id: row.id },
          after: { ...view, adminSecret },
          secretKeys: ['adminSecret'],
        });
        return { ...view, adminSecret };
      });
    },

    async listPools(tenantId: string) {
      const rows = await withTenant(db, tenantId, (tx) => listPools(tx));
      return { items: rows.map(poolView) };
    },

    /**
     * Replaces a pool's admin secret. The new one is returned here once and stored only as a hash;
     * the replaced one stops minting at once, or after `graceSeconds` so automation can switch over.
     */
    async rotatePoolSecret(ctx: AuditContext, id: string, input: SecretRotation = {}) {
      const graceSeconds = input.graceSeconds ?? 0;
      if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_SECRET_GRACE_SECONDS) {
        throw problems.badRequest(`graceSeconds must be between 0 and ${MAX_SECRET_GRACE_SECONDS}`);
      }
      if (!isUuid(id)) throw problems.notFound('token pool not found');
      const adminSecret = generateSecret();
      return withTenant(db, ctx.tenantId, async (tx) => {
        const row = await getPoolForUpdate(tx, id);
        if (!row) throw problems.notFound('token pool not found');
        const now = clock.now();
        const previousSecretValidUntil = new Date(now.getTime() + graceSeconds * 1000);
        await rotatePoolSecret(tx, {
          id,
          secretHash: hashToken(adminSecret),
          previousHash: row.secret_hash,
          previousExpiresAt: previousSecretValidUntil,
          now,
        });
        const view = {
          ...poolView(row),
          secretRotatedAt: now.toISOString(),
          previousSecretValidUntil: graceSeconds > 0 ? previousSecretValidUntil.toISOString() : null,
        };
        await audit.record(tx, ctx, {
          action: 'enrollment.pool.secret.rotate',
          entity: { type: 'enrollment_pool', id },
          after: { ...view, graceSeconds, adminSecret },
          secretKeys: ['adminSecret'],
        });
        return { ...view, adminSecret };
      });
    },

    async deletePool(ctx: AuditContext, id: string) {
      if (!isUuid(id)) throw problems.notFound('token pool not found');
      await withTenant(db, ctx.tenantId, async (tx) => {
        const row = await deletePool(tx, id);
        if (!row) throw problems.notFound('token pool not found');
        await audit.record(tx, ctx, {
          action: 'enrollment.pool.delete',
          entity: { type: 'enrollment_pool', id },
          before: poolView(row),
        });
      });
    },

    /**
     * The automation endpoint: mints one single-use token for the pool whose admin secret (or,
     * during a rotation's overlap, the secret it replaced) is presented. An unknown pool and a
     * wrong secret get the same answer after the same work, so the endpoint does not reveal which
     * pools exist. Failures are limited per address, mints per pool.
     */
    async mintPoolToken(
      poolId: string,
      secret: string | undefined,
      meta: RequestMeta,
      input: { label?: string },
    ) {
      const tenantId = isUuid(poolId) ? await poolTenant(db, poolId) : undefined;
      // The pool is read and its token issued in one transaction; a refusal writes nothing there,
      // and is counted and audited once it has ended.
      const outcome = tenantId
        ? await withTenant(db, tenantId, async (tx) => {
            const pool = await getPool(tx, poolId);
            const check = checkSecret(pool, secret);
            if (!pool || !check.accepted) return { ok: false as const, pool, previous: check.previous };
            if (!check.current)
              logger.info({ poolId: pool.id }, 'token minted with a replaced pool secret in its overlap');
            const limited = poolBuckets.take(`pool:${pool.id}`);
            if (!limited.ok) throw problems.tooManyRequests(limited.retryAfterSeconds);
            const ctx: AuditContext = { tenantId, actor: poolActor(pool), ...meta };
            const issued = await issue(tx, ctx, {
              label: input.label ?? `pool ${pool.name}`,
              ttlSeconds: pool.token_ttl_seconds,
              group: pool.default_group,
              poolId: pool.id,
            });
            return { ok: true as const, issued };
          })
        : { ok: false as const, pool: undefined, previous: checkSecret(undefined, secret).previous };
      if (outcome.ok) return outcome.issued;
      const { pool, previous } = outcome;
      const limited = failureBuckets.take(`ip:${meta.sourceIp ?? ''}`);
      if (!limited.ok) throw problems.tooManyRequests(limited.retryAfterSeconds);
      // A caller that proved it held a replaced secret already knows the pool exists, so it may
      // be told why; anyone else gets the same answer for an unknown pool and a wrong secret.
      const rotated = !!pool && !!secret && previous;
      if (pool && tenantId) {
        refusePoolSecret(
          tenantId,
          pool,
          meta,
          !secret ? 'missing_secret' : rotated ? 'secret_rotated' : 'wrong_secret',
        );
      }
      throw problems.unauthorized(
        rotated
          ? "the pool's admin secret was rotated; use the new one"
          : 'the pool id or its admin secret is wrong',
      );
    },
  };
}

export type TokenPoolsService = ReturnType<typeof createTokenPoolsService>;
