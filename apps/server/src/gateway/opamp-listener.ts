import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { AgentHub } from './agent-hub.js';
import type { Admitted, AdmittedAgent } from './agent-principal.js';
import { createHttpTransport, PROTOBUF } from './http-transport.js';
import type { OpampMetrics } from './opamp-metrics.js';
import { createWsTransport } from './ws-transport.js';

/** The outcome of authenticating a connection or poll, decided before any OpAMP message is read. */
export type AgentAdmission =
  /** `agent` defaults to anonymous (an admission hook that requires no credentials). */
  | { ok: true; tenantId: string; agent?: AdmittedAgent }
  | { ok: false; status: 401 | 403 | 429 | 503; reason: string; retryAfterSeconds?: number };

export type AuthenticateAgent = (req: IncomingMessage) => Promise<AgentAdmission>;

/** The connection's User-Agent as sessions and audit events record it: capped, as agents send anything. */
export function agentUserAgent(req: IncomingMessage): string | null {
  const value = req.headers['user-agent'];
  return typeof value === 'string' ? value.slice(0, 512) : null;
}

export interface OpampListenerDeps {
  hub: AgentHub;
  logger: Logger;
  metrics: OpampMetrics;
  authenticate: AuthenticateAgent;
  path: string;
  maxMessageBytes: number;
  maxSessions: number;
  maxConcurrentAdmissions: number;
  retryAfterSeconds: number;
  /** How often silent sessions are looked for. */
  sweepIntervalMs: number;
  /** Supply a TLS server here (see the trust module); plain HTTP when absent. */
  server?: Server;
}

const mediaType = (v: string | undefined) => (v ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * The OpAMP endpoint: plain-HTTP polling and WebSocket on one path (T-1, T-2). Every connection is
 * admitted or refused before the upgrade, with a status and Retry-After, never after it (C-2).
 */
export function createOpampListener(deps: OpampListenerDeps) {
  const server = deps.server ?? createServer();
  const ws = createWsTransport(deps);
  const http = createHttpTransport(deps);
  let admitting = 0;

  function refuseHttp(res: ServerResponse, status: number, reason: string, retryAfter?: number) {
    deps.metrics.connectionsRefused.inc({ reason });
    res
      .writeHead(status, {
        'content-type': 'text/plain',
        ...(retryAfter ? { 'retry-after': String(retryAfter) } : {}),
      })
      .end(`${reason}\n`);
  }

  function refuseUpgrade(socket: Duplex, status: number, reason: string, retryAfter?: number) {
    deps.metrics.connectionsRefused.inc({ reason });
    const body = `${reason}\n`;
    const text =
      {
        401: 'Unauthorized',
        403: 'Forbidden',
        404: 'Not Found',
        429: 'Too Many Requests',
        503: 'Service Unavailable',
      }[status] ?? 'Error';
    const headers = [
      `HTTP/1.1 ${status} ${text}`,
      'Connection: close',
      'Content-Type: text/plain',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...(retryAfter ? [`Retry-After: ${retryAfter}`] : []),
    ];
    socket.end(headers.join('\r\n') + '\r\n\r\n' + body);
  }

  async function admit(req: IncomingMessage): Promise<AgentAdmission> {
    if (admitting >= deps.maxConcurrentAdmissions) {
      return {
        ok: false,
        status: 429,
        reason: 'too many concurrent connection attempts',
        retryAfterSeconds: deps.retryAfterSeconds,
      };
    }
    admitting++;
    try {
      return await deps.authenticate(req);
    } catch (err) {
      deps.logger.error({ err }, 'agent authentication failed unexpectedly');
      return {
        ok: false,
        status: 503,
        reason: 'authentication unavailable',
        retryAfterSeconds: deps.retryAfterSeconds,
      };
    } finally {
      admitting--;
    }
  }

  function admitted(
    req: IncomingMessage,
    a: AgentAdmission & { ok: true },
    transport: 'websocket' | 'http',
  ): Admitted {
    return {
      tenantId: a.tenantId,
      agent: a.agent ?? { kind: 'anonymous' },
      transport,
      remoteAddress: req.socket.remoteAddress ?? '',
      userAgent: agentUserAgent(req),
    };
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== deps.path) return void res.writeHead(404).end();
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    if (mediaType(req.headers['content-type']) !== PROTOBUF) {
      return void res
        .writeHead(415, { 'content-type': 'text/plain' })
        .end(`Content-Type must be ${PROTOBUF}\n`); // T-16
    }
    void admit(req)
      .then((a) =>
        a.ok
          ? http(req, res, admitted(req, a, 'http'))
          : refuseHttp(res, a.status, a.reason, a.retryAfterSeconds),
      )
      .catch((err) => {
        deps.logger.error({ err }, 'OpAMP HTTP request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== deps.path) return refuseUpgrade(socket, 404, 'not_found');
    // Agents on both transports count; streams that have not spoken yet count too.
    if (Math.max(ws.connections, deps.hub.size) >= deps.maxSessions)
      return refuseUpgrade(socket, 503, 'max_sessions', deps.retryAfterSeconds);
    void admit(req).then((a) => {
      if (!a.ok) return refuseUpgrade(socket, a.status, a.reason.replace(/\s+/g, '_'), a.retryAfterSeconds);
      ws.upgrade(req, socket, head, admitted(req, a, 'websocket'));
    });
  });

  const sweep = setInterval(() => deps.hub.sweep(), deps.sweepIntervalMs);
  sweep.unref();

  return {
    server,
    /** Stops accepting, then closes every agent session. */
    async close() {
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      deps.hub.closeAll('server shutting down');
      await ws.close();
      server.closeAllConnections?.();
      await closed;
    },
  };
}

export type OpampListener = ReturnType<typeof createOpampListener>;
