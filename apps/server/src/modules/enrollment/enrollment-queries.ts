import { sql, type Insertable } from 'kysely';
import type { Database, DB, Tx } from '@ampora/db';

type Q = Database | Tx;

const TOKEN_COLUMNS = [
  'id',
  'label',
  'initial_group',
  'pool_id',
  'created_by',
  'created_at',
  'expires_at',
] as const;

export function insertToken(tx: Tx, row: Insertable<DB['enrollment_tokens']>) {
  return tx.insertInto('enrollment_tokens').values(row).execute();
}

export function listTokens(tx: Tx, limit: number, after?: { at: Date; id: string }) {
  let q = tx
    .selectFrom('enrollment_tokens')
    .select(TOKEN_COLUMNS)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb('created_at', '<', after.at),
        eb.and([eb('created_at', '=', after.at), eb('id', '<', after.id)]),
      ]),
    );
  }
  return q.execute();
}

export function deleteToken(tx: Tx, id: string) {
  return tx.deleteFrom('enrollment_tokens').where('id', '=', id).returning(TOKEN_COLUMNS).executeTakeFirst();
}

/** Which tenant holds a token with this hash, live or redeemed (see the SQL function's comment). */
export async function lookupToken(db: Q, tokenHash: string) {
  const { rows } = await sql<{
    tenant_id: string;
    token_id: string;
    state: 'live' | 'redeemed';
    expires_at: Date | null;
  }>`select * from enrollment_token_lookup(${tokenHash})`.execute(db);
  return rows[0];
}

/**
 * Takes the token out of circulation and leaves its tombstone, in one statement: DELETE …
 * RETURNING, so of two racing redemptions the second blocks on the row lock and then finds
 * nothing (and inserts no tombstone). An expired token is not taken.
 */
export function redeemToken(tx: Tx, r: { tenantId: string; tokenHash: string; agentId: string; now: Date }) {
  return tx
    .with('taken', (db) =>
      db
        .deleteFrom('enrollment_tokens')
        .where('token_hash', '=', r.tokenHash)
        .where('expires_at', '>', r.now)
        .returning(['id', 'label', 'initial_group', 'pool_id']),
    )
    .with('tombstone', (db) =>
      db
        .insertInto('enrollment_redemptions')
        .columns(['tenant_id', 'token_hash', 'token_id', 'agent_id', 'redeemed_at'])
        .expression((eb) =>
          eb
            .selectFrom('taken')
            .select([
              sql<string>`${r.tenantId}::uuid`.as('tenant_id'),
              sql<string>`${r.tokenHash}::text`.as('token_hash'),
              'taken.id',
              sql<string>`${r.agentId}::uuid`.as('agent_id'),
              sql<Date>`${r.now}::timestamptz`.as('redeemed_at'),
            ]),
        ),
    )
    .selectFrom('taken')
    .select(['taken.id', 'taken.label', 'taken.initial_group', 'taken.pool_id'])
    .executeTakeFirst();
}

export function tokenExists(tx: Tx, tokenHash: string) {
  return tx
    .selectFrom('enrollment_tokens')
    .select(['id', 'expires_at'])
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
}

const POOL_COLUMNS = [
  'id',
  'name',
  'token_ttl_seconds',
  'default_group',
  'created_by',
  'created_at',
  'secret_rotated_at',
] as const;

export function insertPool(tx: Tx, row: Insertable<DB['enrollment_pools']>) {
  return tx.insertInto('enrollment_pools').values(row).execute();
}

export function listPools(tx: Tx) {
  return tx.selectFrom('enrollment_pools').select(POOL_COLUMNS).orderBy('name').limit(1000).execute();
}

export function getPool(tx: Tx, id: string) {
  return tx
    .selectFrom('enrollment_pools')
    .select([...POOL_COLUMNS, 'secret_hash', 'previous_secret_hash', 'previous_secret_expires_at'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Locks the pool row, so that two rotations at once end with one secret and its predecessor. */
export function getPoolForUpdate(tx: Tx, id: string) {
  return tx
    .selectFrom('enrollment_pools')
    .select([...POOL_COLUMNS, 'secret_hash'])
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
}

export function rotatePoolSecret(
  tx: Tx,
  r: { id: string; secretHash: string; previousHash: string; previousExpiresAt: Date; now: Date },
) {
  return tx
    .updateTable('enrollment_pools')
    .set({
      secret_hash: r.secretHash,
      previous_secret_hash: r.previousHash,
      previous_secret_expires_at: r.previousExpiresAt,
      secret_rotated_at: r.now,
    })
    .where('id', '=', r.id)
    .executeTakeFirstOrThrow();
}

export function deletePool(tx: Tx, id: string) {
  return tx.deleteFrom('enrollment_pools').where('id', '=', id).returning(POOL_COLUMNS).executeTakeFirst();
}

export async function poolTenant(db: Q, poolId: string): Promise<string | undefined> {
  const { rows } = await sql<{
    t: string | null;
  }>`select enrollment_pool_tenant(${poolId}::uuid) as t`.execute(db);
  return rows[0]?.t ?? undefined;
}

/** Deletes up to `limit` of the tenant's tokens that expired before `cutoff`, oldest first. */
export async function sweepExpiredTokens(tx: Tx, r: { tenantId: string; cutoff: Date; limit: number }) {
  const { numDeletedRows } = await tx
    .deleteFrom('enrollment_tokens')
    .where('tenant_id', '=', r.tenantId)
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('enrollment_tokens')
        .select('id')
        .where('tenant_id', '=', r.tenantId)
        .where('expires_at', '<', r.cutoff)
        .orderBy('expires_at')
        .limit(r.limit),
    )
    .executeTakeFirstOrThrow();
  return Number(numDeletedRows);
}

/** Deletes up to `limit` of the tenant's redemption records made before `cutoff`, oldest first. */
export async function sweepRedemptions(tx: Tx, r: { tenantId: string; cutoff: Date; limit: number }) {
  const { numDeletedRows } = await tx
    .deleteFrom('enrollment_redemptions')
    .where('tenant_id', '=', r.tenantId)
    .where('token_hash', 'in', (eb) =>
      eb
        .selectFrom('enrollment_redemptions')
        .select('token_hash')
        .where('tenant_id', '=', r.tenantId)
        .where('redeemed_at', '<', r.cutoff)
        .orderBy('redeemed_at')
        .limit(r.limit),
    )
    .executeTakeFirstOrThrow();
  return Number(numDeletedRows);
}
