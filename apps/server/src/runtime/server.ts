import { hkdfSync, randomBytes } from 'node:crypto';
import { DEFAULT_TENANT_ID, migrationsComplete, systemClock, uuidv7Ids } from '@ampora/db';
import { ServerCapability, combine, uuidV7 } from '@ampora/opamp';
import { build, type App } from '../app.js';
import { checkSafety, type Config } from '../config/index.js';
import { createAgentHub } from '../gateway/agent-hub.js';
import { createOpampListener, type AuthenticateAgent } from '../gateway/opamp-listener.js';
import { createOpampMetrics } from '../gateway/opamp-metrics.js';
import { insecureLocalAccess } from '../http/principal.js';
import { createAgentStateBuffer } from '../modules/agents/agent-state-buffer.js';
import { markAllDisconnected } from '../modules/agents/agents-queries.js';
import { agentsRoutes } from '../modules/agents/agents-routes.js';
import { createAgentsService } from '../modules/agents/agents-service.js';
import { testHooksRoutes } from '../modules/test-hooks/test-hooks-routes.js';
import type { Logger } from '../observability/logger.js';
import { createMetricsRegistry } from '../observability/metrics.js';
import { openDatabase } from './database.js';
import { resolveMasterKey } from './master-key.js';

export interface RunningServer {
  http: App;
  httpPort: number;
  opampPort: number;
  /** Graceful: stop accepting, finish in-flight requests, close sessions, flush, stop Postgres. */
  close(): Promise<void>;
}

function derive(masterB64: string, purpose: string): string {
  const key = Buffer.from(masterB64, 'base64');
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `ampora:${purpose}`, 32)).toString('hex');
}

/** Every agent lands in the default tenant; replaced by bootstrap-token and mTLS admission. */
const openAgentAccess: AuthenticateAgent = async () => ({ ok: true, tenantId: DEFAULT_TENANT_ID });

/** The URL an agent should use to reach this server; configured, or derived from the listener. */
function opampEndpoint(config: Config, transport: 'websocket' | 'http', port: number): string {
  const base =
    config.opamp.publicUrl ?? `http://${config.opamp.host ?? '127.0.0.1'}:${port}${config.opamp.path}`;
  const url = new URL(base);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  url.protocol = transport === 'websocket' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  return url.toString();
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
  const { db } = database;
  const clock = systemClock;
  const ids = uuidv7Ids;
  const metrics = createMetricsRegistry();

  await markAllDisconnected(db, clock.now());
  // The listener's port is known only after listen() (it may be 0 in tests).
  const opampPortRef = { port: config.opamp.port };
  const opampMetrics = createOpampMetrics(metrics);
  const buffer = createAgentStateBuffer({
    db,
    ids,
    clock,
    logger: logger.child({ component: 'agent-state' }),
    flushIntervalMs: config.opamp.flushIntervalMs,
    livenessWriteIntervalMs: Math.max(1000, (config.opamp.heartbeatWindowSeconds * 1000) / 6),
    onFlush: (_rows, seconds) => opampMetrics.stateFlushSeconds.observe(seconds),
  });
  buffer.start();
  const hub = createAgentHub({
    db,
    clock,
    logger: logger.child({ component: 'opamp' }),
    metrics: opampMetrics,
    buffer,
    sessionConfig: {
      serverCapabilities: combine(
        ServerCapability.AcceptsStatus,
        ServerCapability.OffersRemoteConfig,
        ServerCapability.AcceptsEffectiveConfig,
        ServerCapability.OffersConnectionSettings,
      ),
      heartbeatIntervalSeconds: config.opamp.heartbeatIntervalSeconds,
      heartbeatWindowSeconds: config.opamp.heartbeatWindowSeconds,
    },
    newInstanceUid: () => uuidV7(clock.now().getTime(), randomBytes(10)),
    httpIdleMs: config.opamp.heartbeatWindowSeconds * 1000,
    maxPendingWrites: 200_000,
    retryAfterSeconds: config.opamp.retryAfterSeconds,
    heartbeatIntervalSeconds: config.opamp.heartbeatIntervalSeconds,
    opampEndpoint: (transport) => opampEndpoint(config, transport, opampPortRef.port),
  });

  const agents = createAgentsService({ db });
  const modules = [agentsRoutes(agents)];
  if (config.testHooks.enabled) modules.push(testHooksRoutes(hub));

  const http = await build({
    config,
    db,
    logger,
    metrics,
    clock,
    ids,
    isReady: () => migrationsComplete(db),
    modules,
    access: config.api.insecureNoAuth ? () => insecureLocalAccess : undefined,
  });

  const opamp = createOpampListener({
    hub,
    logger: logger.child({ component: 'opamp' }),
    metrics: opampMetrics,
    authenticate: openAgentAccess,
    path: config.opamp.path,
    maxMessageBytes: config.opamp.maxMessageBytes,
    maxSessions: config.opamp.maxSessions,
    maxConcurrentAdmissions: config.opamp.maxConcurrentAdmissions,
    retryAfterSeconds: config.opamp.retryAfterSeconds,
    sweepIntervalMs: 5000,
  });

  const local = config.mode === 'local';
  const httpHost = config.http.host ?? (local ? '127.0.0.1' : '0.0.0.0');
  const opampHost = config.opamp.host ?? (local ? '127.0.0.1' : '0.0.0.0');
  await http.listen({ host: httpHost, port: config.http.port });
  const httpPort = (http.server.address() as { port: number }).port;
  await new Promise<void>((resolve, reject) => {
    opamp.server.once('error', reject);
    opamp.server.listen({ host: opampHost, port: config.opamp.port, backlog: 4096 }, () => resolve());
  });
  const opampPort = (opamp.server.address() as { port: number }).port;
  opampPortRef.port = opampPort;
  logger.info({ httpPort, opampPort, httpHost, opampHost, path: config.opamp.path }, 'Ampora is listening');

  let closing: Promise<void> | undefined;
  return {
    http,
    httpPort,
    opampPort,
    close() {
      closing ??= (async () => {
        await Promise.all([http.close(), opamp.close()]);
        await buffer.close();
        await database.close();
      })();
      return closing;
    },
  };
}
