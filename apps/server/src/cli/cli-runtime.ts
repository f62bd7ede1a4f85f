import pino from 'pino';
import { systemClock, type Clock } from '@ampora/db';
import type { KeyProtector } from '@ampora/keys';
import { loadConfig, type Config } from '../config/index.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { openKeyedDatabase } from '../runtime/bootstrap.js';
import type { DatabaseRuntime } from '../runtime/database.js';

/** What a command that touches the database gets: the server's own config, keys and database. */
export interface CliRuntime {
  config: Config;
  logger: Logger;
  keys: KeyProtector;
  clock: Clock;
  database: DatabaseRuntime;
  /** The master key was already checked against the database's canary while opening it. */
  canaryVerified: boolean;
  close(): Promise<void>;
}

/** Logs go to stderr, so stdout carries only the command's answer (and stays parseable with --json). */
export function cliLogger(level: string): Logger {
  return createLogger(level, pino.destination({ dest: 2, sync: true }));
}

/**
 * Opens the database exactly as the server does: the same configuration sources, the same master
 * key resolution, migrations applied, the app role for queries. With no DATABASE_URL this starts
 * the embedded PostgreSQL under the data directory, so stop a local server first.
 */
export async function openCliRuntime(env: NodeJS.ProcessEnv): Promise<CliRuntime> {
  const config = loadConfig(env);
  const logger = cliLogger(config.log.level);
  const { keys, database, canaryVerified } = await openKeyedDatabase(config, logger);
  return {
    config,
    logger,
    keys,
    clock: systemClock,
    database,
    canaryVerified,
    close: () => database.close(),
  };
}
