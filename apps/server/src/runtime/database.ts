import path from 'node:path';
import {
  APP_ROLE,
  createDatabase,
  migrateToLatest,
  startEmbeddedPostgres,
  withCredentials,
  type Database,
} from '@ampora/db';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';

export interface DatabaseRuntime {
  /** App-role pool: RLS applies. Everything but migrations uses this. */
  db: Database;
  /** Owner connection string, for CLI commands that need it (migrations, audit verification). */
  ownerUrl: string;
  close(): Promise<void>;
}

export interface DatabaseSecrets {
  /** Password the app role logs in with; derived from the master key so every replica agrees. */
  appRolePassword: string;
  /** Superuser password of the embedded cluster. */
  embeddedOwnerPassword: string;
}

/**
 * Opens the configured database, or starts the embedded one when none is configured,
 * applies migrations as the owner, then connects as the app role.
 */
export async function openDatabase(
  config: Config,
  secrets: DatabaseSecrets,
  logger: Logger,
): Promise<DatabaseRuntime> {
  let ownerUrl = config.database.url;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!ownerUrl) {
    const dataDir = path.resolve(config.dataDir, 'postgres');
    logger.info(
      { dataDir, port: config.database.embeddedPort },
      'starting embedded PostgreSQL (DATABASE_URL is unset)',
    );
    const pgLog = logger.child({ component: 'embedded-postgres' });
    const embedded = await startEmbeddedPostgres({
      dataDir,
      port: config.database.embeddedPort,
      password: secrets.embeddedOwnerPassword,
      log: (line) => pgLog.debug(line),
    });
    ownerUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }

  const owner = createDatabase(ownerUrl, { max: 1, applicationName: 'ampora-migrate' });
  try {
    const applied = await migrateToLatest(owner, {
      appRolePassword: config.database.appUrl ? undefined : secrets.appRolePassword,
    });
    logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema is up to date');
  } catch (err) {
    await owner.destroy();
    await stopEmbedded?.();
    throw err;
  } finally {
    await owner.destroy().catch(() => {});
  }

  const appUrl = config.database.appUrl ?? withCredentials(ownerUrl, APP_ROLE, secrets.appRolePassword);
  const db = createDatabase(appUrl, {
    max: config.database.poolMax,
    onIdleError: (err) => logger.warn({ err: err.message }, 'idle database connection failed'),
  });
  return {
    db,
    ownerUrl,
    async close() {
      await db.destroy();
      await stopEmbedded?.();
    },
  };
}
