import { AsyncLocalStorage } from 'node:async_hooks';
import {
  CompiledQuery,
  PostgresDialect,
  type DatabaseConnection,
  type Driver,
  type TransactionSettings,
} from 'kysely';

/** The tenant the transaction about to begin belongs to; set by withTenant for the BEGIN alone. */
export const pendingTenant = new AsyncLocalStorage<string>();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` is a canonical UUID string; use before sending an id from a request to Postgres. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * Sends BEGIN and the row-level-security context as one simple-query round trip. A transaction's
 * statements are round trips the server pays CPU for; on a busy instance, one fewer per
 * transaction is measurable. The tenant id is checked to be a UUID before it is inlined.
 */
function withTenantBegin(driver: Driver): Driver {
  return {
    init: () => driver.init(),
    acquireConnection: () => driver.acquireConnection(),
    releaseConnection: (c) => driver.releaseConnection(c),
    commitTransaction: (c) => driver.commitTransaction(c),
    rollbackTransaction: (c) => driver.rollbackTransaction(c),
    savepoint: driver.savepoint?.bind(driver),
    rollbackToSavepoint: driver.rollbackToSavepoint?.bind(driver),
    releaseSavepoint: driver.releaseSavepoint?.bind(driver),
    destroy: () => driver.destroy(),
    async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
      const tenantId = pendingTenant.getStore();
      if (!tenantId || settings.isolationLevel || settings.accessMode) {
        return driver.beginTransaction(connection, settings);
      }
      if (!isUuid(tenantId)) throw new Error('tenant id must be a UUID');
      await connection.executeQuery(
        CompiledQuery.raw(`begin; select set_config('app.tenant_id', '${tenantId}', true)`),
      );
    },
  };
}

const tenantAware = new WeakSet<object>();

/** Marks a Kysely instance built on {@link TenantAwarePostgresDialect}. */
export function markTenantAware(db: object) {
  tenantAware.add(db);
}

export function isTenantAware(db: object): boolean {
  return tenantAware.has(db);
}

export class TenantAwarePostgresDialect extends PostgresDialect {
  override createDriver(): Driver {
    return withTenantBegin(super.createDriver());
  }
}
