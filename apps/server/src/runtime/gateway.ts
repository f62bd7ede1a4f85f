import { randomBytes } from 'node:crypto';
import { DEFAULT_TENANT_ID, type Clock, type Database, type IdSource } from '@ampora/db';
import { ServerCapability, combine, createUuidV7Source } from '@ampora/opamp';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import { createAgentHub } from '../gateway/agent-hub.js';
import type { AuthenticateAgent } from '../gateway/opamp-listener.js';
import { createOpampMetrics } from '../gateway/opamp-metrics.js';
import { createAgentStateBuffer } from '../modules/agents/agent-state-buffer.js';
import type { Logger } from '../observability/logger.js';

/** Used only when no module takes over agent admission: every agent lands in the default tenant. */
export const openAgentAccess: AuthenticateAgent = async () => ({ ok: true, tenantId: DEFAULT_TENANT_ID });

/** The URL an agent should use to reach this server; configured, or derived from the listener. */
export function opampEndpoint(
  config: Config,
  transport: 'websocket' | 'http',
  port: number,
  tls: boolean,
): string {
  const base =
    config.opamp.publicUrl ??
    `${tls ? 'https' : 'http'}://${config.opamp.host ?? '127.0.0.1'}:${port}${config.opamp.path}`;
  const url = new URL(base);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  url.protocol = transport === 'websocket' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  return url.toString();
}

export interface GatewayCoreDeps {
  config: Config;
  db: Database;
  clock: Clock;
  ids: IdSource;
  logger: Logger;
  metrics: Registry;
  opampPort: () => number;
  tls: () => boolean;
}

/** The agent state buffer and the hub, which exist before any module so modules can use the hub. */
export function createGatewayCore(d: GatewayCoreDeps) {
  const metrics = createOpampMetrics(d.metrics);
  const buffer = createAgentStateBuffer({
    db: d.db,
    ids: d.ids,
    clock: d.clock,
    logger: d.logger.child({ component: 'agent-state' }),
    flushIntervalMs: d.config.opamp.flushIntervalMs,
    livenessWriteIntervalMs: Math.max(1000, (d.config.opamp.heartbeatWindowSeconds * 1000) / 6),
    onFlush: (_rows, seconds) => metrics.stateFlushSeconds.observe(seconds),
  });
  const hub = createAgentHub({
    db: d.db,
    clock: d.clock,
    logger: d.logger.child({ component: 'opamp' }),
    metrics,
    buffer,
    sessionConfig: {
      serverCapabilities: combine(
        ServerCapability.AcceptsStatus,
        ServerCapability.OffersRemoteConfig,
        ServerCapability.AcceptsEffectiveConfig,
        ServerCapability.OffersConnectionSettings,
      ),
      heartbeatIntervalSeconds: d.config.opamp.heartbeatIntervalSeconds,
      heartbeatWindowSeconds: d.config.opamp.heartbeatWindowSeconds,
    },
    newInstanceUid: createUuidV7Source({ now: () => d.clock.now().getTime(), randomBytes }),
    httpIdleMs: d.config.opamp.heartbeatWindowSeconds * 1000,
    maxPendingWrites: 200_000,
    retryAfterSeconds: d.config.opamp.retryAfterSeconds,
    opampEndpoint: (transport) => opampEndpoint(d.config, transport, d.opampPort(), d.tls()),
    enrollmentGraceMs: d.config.enrollment.bootstrapSessionGraceSeconds * 1000,
  });
  return { metrics, buffer, hub };
}
