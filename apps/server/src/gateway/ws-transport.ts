import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  badRequestFor,
  decodeAgentToServer,
  decodeFrame,
  errorResponse,
  type ServerToAgent,
} from '@ampora/opamp';
import type { Admitted } from './agent-principal.js';
import type { AgentPeer } from './hub-sessions.js';
import { encodeServerToAgent, frame, serverFailureReply, type TransportDeps } from './wire.js';

/**
 * OpAMP over WebSocket. The upgrade has already been admitted and authenticated by the listener;
 * this side frames, validates and answers. The server never speaks first (every push follows at
 * least one message of the agent), and one bad message never ends the stream.
 */
export function createWsTransport(deps: TransportDeps) {
  const wss = new WebSocketServer({
    noServer: true,
    // The header varint is one byte for 0; a larger frame is over the limit (T-10). `ws` closes with 1009 (T-12).
    maxPayload: deps.maxMessageBytes + 1,
    // Deflate contexts cost hundreds of KiB per socket; fleets of thousands cannot afford them.
    perMessageDeflate: false,
    clientTracking: true,
  });

  function attach(ws: WebSocket, admitted: Admitted) {
    const remoteAddress = admitted.remoteAddress;
    let lastUid: Uint8Array = new Uint8Array(0);
    let queue: Promise<void> = Promise.resolve();
    const peer: AgentPeer = {
      transport: 'websocket',
      remoteAddress,
      push: (msg) => send(msg),
      close: (code, reason) => ws.close(code, reason),
    };

    function send(msg: ServerToAgent) {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(frame(encodeServerToAgent(msg, deps)));
    }

    function refuse(reason: string, msg: ServerToAgent) {
      deps.metrics.framesRejected.inc({ reason });
      deps.logger.info({ reason, remoteAddress }, 'OpAMP message rejected');
      send(msg);
    }

    async function onMessage(data: RawData, isBinary: boolean) {
      const started = process.hrtime.bigint();
      deps.metrics.framesReceived.inc({ transport: 'websocket' });
      // `ws` hands over a Buffer (binaryType nodebuffer); copying every frame would be wasted work.
      const buf = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      if (!isBinary) {
        refuse('text_frame', errorResponse(lastUid, 'bad_request', 'OpAMP messages must be binary frames')); // T-8
        return;
      }
      const framed = decodeFrame(buf);
      if (!framed.ok) {
        refuse(framed.reason, errorResponse(lastUid, 'bad_request', framed.detail)); // T-6
        return;
      }
      const decoded = decodeAgentToServer(framed.payload, { maxBytes: deps.maxMessageBytes });
      if (!decoded.ok) {
        refuse(decoded.reason, badRequestFor(decoded, lastUid));
        return;
      }
      // Decoded bytes fields are views into the frame: a copy keeps only the uid alive, not the message.
      lastUid = decoded.msg.instanceUid.slice();
      // The upgrade was checked against the limit, but one stream may carry a new agent later.
      const full = deps.hub.sessionLimitReply(admitted.tenantId, decoded.msg.instanceUid, deps);
      if (full) {
        send(full);
        return;
      }
      const { reply, close } = await deps.hub.handle(admitted, decoded.msg, peer);
      send(reply);
      if (close) {
        ws.close(close.code, close.reason);
        return;
      }
      for (const m of deps.hub.drain(admitted.tenantId, decoded.msg.instanceUid)) send(m);
      deps.metrics.replySeconds.observe(
        { transport: 'websocket' },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    }

    ws.on('message', (data, isBinary) => {
      // Messages of one stream are answered in order.
      queue = queue
        .then(() => onMessage(data, isBinary))
        .catch((err) => {
          deps.logger.error({ err, remoteAddress }, 'OpAMP message could not be processed');
          deps.metrics.framesRejected.inc({ reason: 'server_error' });
          send(serverFailureReply(lastUid, deps.retryAfterSeconds));
        });
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        deps.metrics.framesRejected.inc({ reason: 'too_large' });
      deps.logger.info({ code: err.code, remoteAddress }, 'WebSocket error');
    });
    ws.on('close', () => deps.hub.streamClosed(peer));
    deps.hub.streamOpened(peer, admitted);
  }

  return {
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, admitted: Admitted) {
      wss.handleUpgrade(req, socket, head, (ws) => attach(ws, admitted));
    },
    get connections() {
      return wss.clients.size;
    },
    /**
     * Completes the closing handshake with every client that answers within `graceMs` (C-3), then
     * drops the rest. Close frames were already sent by the hub; this sends one to any stream it
     * did not know (one that never sent a message).
     */
    async close(graceMs = 2000) {
      const open = [...wss.clients];
      for (const ws of open) if (ws.readyState === ws.OPEN) ws.close(1001, 'server shutting down');
      const closed = open.map(
        (ws) =>
          new Promise<void>((resolve) =>
            ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()),
          ),
      );
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, graceMs).unref())]);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
