import { Kysely, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB } from './schema/index.js';
import { markTenantAware, TenantAwarePostgresDialect } from './tenant-context.js';

export type Database = Kysely<DB>;
export type Tx = Transaction<DB>;

// int8 (bigint) columns are sequence numbers and counters here; they stay far below 2^53,
// and parsing them as numbers keeps call sites free of string/BigInt juggling.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** Called for errors on idle clients, which would otherwise crash the process. */
  onIdleError?: (err: Error) => void;
}

export function createDatabase(connectionString: string, options: PoolOptions = {}): Database {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'ampora',
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  const db = new Kysely<DB>({ dialect: new TenantAwarePostgresDialect({ pool }) });
  markTenantAware(db);
  return db;
}

/** Rewrites a connection URL to log in as another role, keeping host, port and database. */
export function withCredentials(connectionString: string, user: string, password: string): string {
  const url = new URL(connectionString);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}
