/**
 * A minimal OpAMP server used by the simulator's own tests: both transports
 * on one port, driven by the @ampora/opamp session state machine, with an
 * in-memory store. Not part of the package's public entry.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  ServerToAgentSchema,
  badRequestFor,
  createAgentSession,
  createUuidV7Source,
  decodeAgentToServer,
  decodeFrame,
  encodeFrame,
  errorResponse,
  toBinary,
  uuidToString,
  type AgentProtocolState,
  type AgentSession,
  type Inbound,
  type Offer,
  type OfferResult,
  type ServerToAgent,
  type SessionConfig,
  type StatusSections,
  type ValidAgentToServer,
} from '@ampora/opamp';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ReceivedMessage {
  transport: 'websocket' | 'http';
  msg: ValidAgentToServer;
  inbound: Inbound;
  remoteAddress: string | undefined;
  headers: http.IncomingHttpHeaders;
}

export interface TestServerOptions {
  config?: Partial<Omit<SessionConfig, 'transport'>>;
  maxBytes?: number;
  /**
   * Called after each message is received, before its reply is built: queue
   * offers here, or return a reply of its own (e.g. `inbound.reject(...)`).
   */
  onInbound?: (inbound: Inbound, session: AgentSession) => ServerToAgent | void;
}

export interface TestOpampServer {
  readonly wsUrl: string;
  readonly httpUrl: string;
  readonly received: ReceivedMessage[];
  /** Failures answered with BAD_REQUEST (reason per message). */
  readonly rejected: string[];
  /** Latest stored sections per uid (text form), merged. */
  readonly sections: Map<string, StatusSections>;
  readonly store: Map<string, AgentProtocolState>;
  /** HTTP status to refuse every request / upgrade with (0 = accept). */
  refuseWith: number;
  /** Queues an offer for an agent and pushes it at once on WebSocket. */
  offer(uid: Uint8Array, offer: Offer): OfferResult;
  session(uid: Uint8Array): AgentSession | undefined;
  /** Closes every WebSocket with this code. */
  dropConnections(code: number): void;
  close(): Promise<void>;
}

export async function startTestOpampServer(options: TestServerOptions = {}): Promise<TestOpampServer> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const received: ReceivedMessage[] = [];
  const rejected: string[] = [];
  const sections = new Map<string, StatusSections>();
  const store = new Map<string, AgentProtocolState>();
  const sessions = new Map<string, { session: AgentSession; socket?: WebSocket }>();
  let clockMs = Date.now();
  const newInstanceUid = createUuidV7Source({ now: () => clockMs++, randomBytes: (n) => randomBytes(n) });

  function sessionFor(msg: ValidAgentToServer, transport: 'websocket' | 'http', socket?: WebSocket) {
    const key = uuidToString(msg.instanceUid);
    let entry = sessions.get(key);
    if (!entry || entry.socket !== socket) {
      entry = {
        socket,
        session: createAgentSession({
          config: { serverCapabilities: ~0n, ...options.config, transport },
          instanceUid: msg.instanceUid,
          stored: store.get(key),
          now: () => Date.now(),
          newInstanceUid,
        }),
      };
      sessions.set(key, entry);
    }
    return entry;
  }

  function handle(
    msg: ValidAgentToServer,
    transport: 'websocket' | 'http',
    meta: { remoteAddress?: string; headers: http.IncomingHttpHeaders },
    socket?: WebSocket,
  ): ServerToAgent {
    const entry = sessionFor(msg, transport, socket);
    const { session } = entry;
    const inbound = session.receive(msg);
    received.push({ transport, msg, inbound, ...meta, remoteAddress: meta.remoteAddress });
    const reply = options.onInbound?.(inbound, session) ?? inbound.reply();
    // Messages under an assigned uid belong to the same session.
    if (inbound.newInstanceUid) sessions.set(uuidToString(inbound.newInstanceUid), entry);
    const key = uuidToString(session.instanceUid);
    if (inbound.adoptedInstanceUid) {
      sessions.delete(uuidToString(inbound.instanceUid));
      sessions.set(key, entry);
    }
    sections.set(key, { ...sections.get(key), ...inbound.sections });
    const update = session.takeStateUpdate();
    if (update) store.set(key, update);
    if (inbound.disconnect) sessions.delete(key);
    return reply;
  }

  const server = http.createServer((req, res) => {
    if (state.refuseWith) {
      res.writeHead(state.refuseWith, { 'Retry-After': '1' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Uint8Array = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (body.length > maxBytes) return void res.writeHead(413).end();
      const decoded = decodeAgentToServer(body, { maxBytes });
      const reply = decoded.ok
        ? handle(decoded.msg, 'http', { remoteAddress: req.socket.remoteAddress, headers: req.headers })
        : (rejected.push(decoded.reason), badRequestFor(decoded));
      let out: Uint8Array = toBinary(ServerToAgentSchema, reply);
      const headers: Record<string, string> = { 'Content-Type': 'application/x-protobuf' };
      if (/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
        out = gzipSync(out);
        headers['Content-Encoding'] = 'gzip';
      }
      res.writeHead(200, headers).end(out);
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxBytes + 1 });
  server.on('upgrade', (req, socket, head) => {
    if (state.refuseWith) {
      socket.end(`HTTP/1.1 ${state.refuseWith} Refused\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let lastUid: Uint8Array = new Uint8Array(0);
      // Oversized frames make ws close with 1009 and emit an error we only need to absorb.
      ws.on('error', () => undefined);
      const send = (m: ServerToAgent) => ws.send(encodeFrame(toBinary(ServerToAgentSchema, m)));
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) {
          rejected.push('text_frame');
          return send(errorResponse(lastUid, 'bad_request', 'OpAMP uses binary frames only'));
        }
        const frame = decodeFrame(data);
        if (!frame.ok) {
          rejected.push(frame.reason);
          return send(errorResponse(lastUid, 'bad_request', frame.detail));
        }
        const decoded = decodeAgentToServer(frame.payload, { maxBytes });
        if (!decoded.ok) {
          rejected.push(decoded.reason);
          return send(badRequestFor(decoded, lastUid));
        }
        lastUid = decoded.msg.instanceUid;
        send(
          handle(
            decoded.msg,
            'websocket',
            { remoteAddress: req.socket.remoteAddress, headers: req.headers },
            ws,
          ),
        );
        const entry = sessions.get(uuidToString(decoded.msg.instanceUid));
        for (let m = entry?.session.push(); m; m = entry?.session.push()) send(m);
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const state: TestOpampServer = {
    wsUrl: `ws://127.0.0.1:${port}/v1/opamp`,
    httpUrl: `http://127.0.0.1:${port}/v1/opamp`,
    received,
    rejected,
    sections,
    store,
    refuseWith: 0,
    offer(uid, offer) {
      const entry = sessions.get(uuidToString(uid));
      if (!entry) return { ok: false, reason: 'agent_capability', detail: 'no session' };
      const result = entry.session.offer(offer);
      const socket = entry.socket;
      if (result.ok && socket) {
        for (let m = entry.session.push(); m; m = entry.session.push()) {
          socket.send(encodeFrame(toBinary(ServerToAgentSchema, m)));
        }
      }
      return result;
    },
    session: (uid) => sessions.get(uuidToString(uid))?.session,
    dropConnections(code) {
      for (const ws of wss.clients) ws.close(code);
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  return state;
}
