import type { KeyProtector } from '@ampora/keys';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { openDatabase, type DatabaseRuntime } from './database.js';
import { createKeys, precheckMasterKey } from './key-protection.js';
import { resolveMasterKey } from './master-key.js';

export interface KeyedDatabase {
  keys: KeyProtector;
  database: DatabaseRuntime;
  /** The master key was already checked against the database's canary, before migrations. */
  canaryVerified: boolean;
}

/**
 * The start-up both the server and the CLI go through: resolve the master key, build the key
 * protector from it, then open (and migrate) the database with the app role's password derived from
 * that key. One path, so the CLI always sees the database exactly as the server would.
 */
export async function openKeyedDatabase(config: Config, logger: Logger): Promise<KeyedDatabase> {
  const keys = createKeys(await resolveMasterKey(config, logger));
  let canaryVerified = false;
  const database = await openDatabase(
    config,
    {
      appRolePassword: keys.deriveSecret('db-app-role').toString('hex'),
      // A wrong master key is reported before migrations reset the app role's password from it.
      beforeMigrate: async (owner) => {
        canaryVerified = await precheckMasterKey(owner, keys, logger);
      },
    },
    logger,
  );
  return { keys, database, canaryVerified };
}
