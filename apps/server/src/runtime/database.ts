import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
  /**
   * Runs on the owner connection before migrations touch anything, so a wrong master key is
   * reported before the app role's password is reset from it.
   */
  beforeMigrate?: (owner: Database) => Promise<void>;
}

/**
 * The embedded cluster's superuser password lives next to the cluster, not derived from the master
 * key: a wrong master key must reach the canary check and be reported as such, not fail to log in.
 */
async function embeddedOwnerPassword(dataDir: string): Promise<string> {
  const file = path.join(path.dirname(dataDir), 'postgres-owner.password');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, randomBytes(24).toString('hex') + '\n', { mode: 0o600, flag: 'wx' }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    },
  );
  return (await readFile(file, 'utf8')).trim();
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
      password: await embeddedOwnerPassword(dataDir),
      log: (line) => pgLog.debug(line),
      notice: (message) => logger.warn(message),
    });
    ownerUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }

  const owner = createDatabase(ownerUrl, { max: 1, applicationName: 'ampora-migrate' });
  try {
    // The owner pool is closed before a failure stops the embedded cluster under it.
    try {
      await secrets.beforeMigrate?.(owner);
      const applied = await migrateToLatest(owner, {
        appRolePassword: config.database.appUrl ? undefined : secrets.appRolePassword,
      });
      logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema is up to date');
    } finally {
      await owner.destroy().catch(() => {});
    }
  } catch (err) {
    await stopEmbedded?.();
    throw err;
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
