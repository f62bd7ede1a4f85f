import type { Database, Tx } from './pools.js';
import { sql } from 'kysely';
import { isTenantAware, isUuid, pendingTenant } from './tenant-context.js';

/**
 * Runs `fn` in a transaction whose row-level-security context is `tenantId`.
 * `set_config(..., true)` is transaction-local, so a pooled connection never carries
 * one tenant's context into another request.
 */
export async function withTenant<T>(db: Database, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (!isUuid(tenantId)) throw new Error('withTenant: tenant id must be a UUID');
  if (!isTenantAware(db)) {
    return db.transaction().execute(async (tx) => {
      await sql`select set_config('app.tenant_id', ${tenantId}, true)`.execute(tx);
      return fn(tx);
    });
  }
  // The BEGIN of this transaction also sets the tenant (see tenant-context.ts); the context covers
  // the BEGIN only, so transactions that `fn` starts itself do not inherit it.
  return pendingTenant.run(tenantId, () =>
    db.transaction().execute((tx) => pendingTenant.exit(() => fn(tx))),
  );
}
