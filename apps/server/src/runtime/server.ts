import { hkdfSync } from 'node:crypto';
import { migrationsComplete, systemClock, uuidv7Ids } from '@ampora/db';
import { build, type App } from '../app.js';
import { checkSafety, type Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { createMetricsRegistry } from '../observability/metrics.js';
import { openDatabase } from './database.js';
import { resolveMasterKey } from './master-key.js';

export interface RunningServer {
  http: App;
  httpPort: number;
  /** Graceful: stop accepting, finish in-flight requests, close sessions, flush, stop Postgres. */
  close(): Promise<void>;
}

function derive(masterB64: string, purpose: string): string {
  const key = Buffer.from(masterB64, 'base64');
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `ampora:${purpose}`, 32)).toString('hex');
}

/** The composition root: config → database → services → listeners. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const safety = checkSafety(config);
  if (safety.refusals.length) {
    throw new Error(`refusing to start:\n  - ${safety.refusals.join('\n  - ')}`);
  }
  for (const warning of safety.warnings) logger.warn(`UNSAFE SETTING: ${warning}`);

  const master = await resolveMasterKey(config, logger);
  const database = await openDatabase(
    config,
    {
      appRolePassword: derive(master.current, 'db-app-role'),
      embeddedOwnerPassword: derive(master.current, 'embedded-db-owner'),
    },
    logger,
  );

  const metrics = createMetricsRegistry();
  const http = await build({
    config,
    db: database.db,
    logger,
    metrics,
    clock: systemClock,
    ids: uuidv7Ids,
    isReady: () => migrationsComplete(database.db),
  });

  const host = config.http.host ?? (config.mode === 'local' ? '127.0.0.1' : '0.0.0.0');
  await http.listen({ host, port: config.http.port });
  const httpPort = (http.server.address() as { port: number }).port;
  logger.info({ port: httpPort, host }, 'HTTP API listening');

  let closing: Promise<void> | undefined;
  return {
    http,
    httpPort,
    close() {
      closing ??= (async () => {
        await http.close();
        await database.close();
      })();
      return closing;
    },
  };
}
