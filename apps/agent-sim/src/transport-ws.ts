/**
 * WebSocket transport: binary frames with the OpAMP header, via `ws`.
 */
import { decodeFrame, encodeFrame } from '@ampora/opamp';
import WebSocket from 'ws';
import {
  HttpStatusError,
  parseRetryAfter,
  type ConnectionOptions,
  type SimTransport,
  type TransportEvents,
} from './transport';

export interface WebSocketTransportOptions extends ConnectionOptions {
  /** Offer permessage-deflate. Off by default: cheaper for load tests. */
  compression?: boolean;
  /** Upgrade timeout. */
  handshakeTimeoutMs?: number;
}

export function createWebSocketTransport(
  options: WebSocketTransportOptions,
  events: TransportEvents,
): SimTransport {
  let socket: WebSocket | undefined;

  const write = (data: Uint8Array | string, binary: boolean) =>
    new Promise<void>((resolve, reject) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) return reject(new Error('WebSocket is not open'));
      socket.send(data, { binary }, (err) => (err ? reject(err) : resolve()));
    });

  return {
    kind: 'websocket',
    get isOpen() {
      return socket?.readyState === WebSocket.OPEN;
    },
    open() {
      return new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(options.url, {
          headers: options.headers,
          localAddress: options.localAddress,
          perMessageDeflate: options.compression ?? false,
          handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
          ...options.tls,
        });
        socket = ws;
        let opened = false;
        ws.on('unexpected-response', (_req, res) => {
          reject(new HttpStatusError(res.statusCode ?? 0, parseRetryAfter(res.headers['retry-after'])));
          res.resume();
          ws.terminate();
        });
        ws.once('open', () => {
          opened = true;
          resolve();
        });
        ws.on('error', (err) => {
          if (!opened) reject(err);
        });
        ws.on('message', (data, isBinary) => {
          if (!isBinary) {
            events.onProtocolError(new Error('server sent a text frame'));
            return;
          }
          const bytes = toBytes(data);
          const frame = decodeFrame(bytes);
          if (!frame.ok) events.onProtocolError(new Error(frame.detail));
          else events.onPayload(frame.payload);
        });
        ws.on('close', (code, reason) => {
          if (opened) events.onClose(code, reason.toString());
        });
      });
    },
    async send(payload) {
      await write(encodeFrame(payload), true);
      return undefined;
    },
    async sendRaw(bytes) {
      await write(bytes, true);
      return undefined;
    },
    sendText(text) {
      return write(text, false);
    },
    close(code = 1000) {
      return new Promise<void>((resolve) => {
        const ws = socket;
        if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(code);
        // A server that never answers the close handshake must not hang shutdown.
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 2_000).unref();
      });
    },
  };
}

function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
