export type { DB } from './schema/index.js';
export type { Timestamp, CreatedAt, TenantsTable } from './schema/core.js';
export { createDatabase, withCredentials, type Database, type Tx, type PoolOptions } from './pools.js';
export { withTenant, isUuid } from './with-tenant.js';
export { migrateToLatest, migrationsComplete, APP_ROLE, defaultMigrationsDir } from './migrate.js';
export { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded.js';
export { systemClock, uuidv7Ids, manualClock, type Clock, type IdSource } from './clock.js';
export { DEFAULT_TENANT_ID } from './constants.js';
export { isUniqueViolation } from './errors.js';
