import { migrationsComplete, systemClock, uuidv7Ids } from '@ampora/db';
import { build, type App } from '../app.js';
import { checkSafety, type Config } from '../config/index.js';
import { createOpampListener } from '../gateway/opamp-listener.js';
import { insecureLocalAccess } from '../http/principal.js';
import { createAuditRecorder } from '../modules/audit/audit-recorder.js';
import { markAllDisconnected } from '../modules/agents/agents-queries.js';
import type { Logger } from '../observability/logger.js';
import { createMetricsRegistry } from '../observability/metrics.js';
import { openKeyedDatabase } from './bootstrap.js';
import type { ServerContext } from './context.js';
import { createGatewayCore, openAgentAccess } from './gateway.js';
import { checkMasterKey } from './key-protection.js';
import { createModules } from './modules.js';

export interface RunningServer {
  http: App;
  httpPort: number;
  opampPort: number;
  /** Graceful: stop accepting, finish in-flight requests, close sessions, flush, stop Postgres. */
  close(): Promise<void>;
}

/** The composition root: config → database → keys → shared services → modules → listeners. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const safety = checkSafety(config);
  if (safety.refusals.length) {
    throw new Error(`refusing to start:\n  - ${safety.refusals.join('\n  - ')}`);
  }
  for (const warning of safety.warnings) logger.warn(`UNSAFE SETTING: ${warning}`);

  const { keys, database, canaryVerified } = await openKeyedDatabase(config, logger);
  const stack: Array<() => Promise<void> | void> = [() => database.close()];
  const unwind = async () => {
    for (const fn of stack.splice(0).reverse()) await fn();
  };

  try {
    const { db } = database;
    const clock = systemClock;
    const ids = uuidv7Ids;
    // A new database gets its first canary here, once migrations have created the table.
    if (!canaryVerified) await checkMasterKey(db, keys, clock, logger);
    await markAllDisconnected(db, clock.now());

    const ports = { http: config.http.port, opamp: config.opamp.port, tls: false };
    const metrics = createMetricsRegistry();
    const core = createGatewayCore({
      config,
      db,
      clock,
      ids,
      logger,
      metrics,
      opampPort: () => ports.opamp,
      tls: () => ports.tls,
    });
    core.buffer.start();
    stack.push(() => core.buffer.close());

    const ctx: ServerContext = {
      config,
      logger,
      db,
      ownerUrl: database.ownerUrl,
      clock,
      ids,
      metrics,
      keys,
      audit: createAuditRecorder({
        clock,
        ids,
        hmac: (data) => keys.hmac('audit-secret', data).toString('hex'),
      }),
      hub: core.hub,
      opampPort: () => ports.opamp,
      httpPort: () => ports.http,
    };
    const modules = createModules(ctx);
    const pick = <K extends 'accessControl' | 'authenticateAgent' | 'opampServer'>(key: K) =>
      modules.find((m) => m[key] !== undefined)?.[key];

    const accessControl =
      pick('accessControl') ?? (config.api.insecureNoAuth ? insecureLocalAccess : undefined);
    const isReady = await migrationsComplete(db);
    const http = await build({
      config,
      db,
      logger,
      metrics,
      clock,
      ids,
      isReady,
      modules: modules.flatMap((m) => (m.routes ? [m.routes] : [])),
      access: accessControl ? () => accessControl : undefined,
    });

    const opampServerFactory = pick('opampServer');
    ports.tls = opampServerFactory !== undefined;
    const opamp = createOpampListener({
      hub: core.hub,
      logger: logger.child({ component: 'opamp' }),
      metrics: core.metrics,
      authenticate: pick('authenticateAgent') ?? openAgentAccess,
      path: config.opamp.path,
      maxMessageBytes: config.opamp.maxMessageBytes,
      maxSessions: config.opamp.maxSessions,
      maxConcurrentAdmissions: config.opamp.maxConcurrentAdmissions,
      retryAfterSeconds: config.opamp.retryAfterSeconds,
      sweepIntervalMs: 5000,
      server: opampServerFactory ? await opampServerFactory() : undefined,
    });

    const local = config.mode === 'local';
    const httpHost = config.http.host ?? (local ? '127.0.0.1' : '0.0.0.0');
    const opampHost = config.opamp.host ?? (local ? '127.0.0.1' : '0.0.0.0');
    await http.listen({ host: httpHost, port: config.http.port });
    stack.push(() => http.close());
    ports.http = (http.server.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      opamp.server.once('error', reject);
      opamp.server.listen({ host: opampHost, port: config.opamp.port, backlog: 4096 }, () => resolve());
    });
    stack.push(() => opamp.close());
    ports.opamp = (opamp.server.address() as { port: number }).port;

    for (const m of modules) {
      await m.start?.();
      if (m.stop) stack.push(m.stop);
    }
    logger.info(
      {
        httpPort: ports.http,
        opampPort: ports.opamp,
        httpHost,
        opampHost,
        tls: ports.tls,
        path: config.opamp.path,
      },
      'Ampora is listening',
    );

    let closing: Promise<void> | undefined;
    return {
      http,
      httpPort: ports.http,
      opampPort: ports.opamp,
      close() {
        // Reverse order of start: jobs, then listeners (drain), then the state buffer, then Postgres.
        closing ??= unwind();
        return closing;
      },
    };
  } catch (err) {
    await unwind().catch(() => {});
    throw err;
  }
}
