/**
 * The transport seam of the simulator: WebSocket or plain HTTP, each able
 * to carry TLS client options and extra headers (Authorization, …).
 */
import type { SecureContextOptions } from 'node:tls';

export type TransportKind = 'websocket' | 'http';

/** TLS client options passed through to `ws` / `https` (mTLS and custom trust). */
export interface TlsClientOptions {
  ca?: SecureContextOptions['ca'];
  cert?: SecureContextOptions['cert'];
  key?: SecureContextOptions['key'];
  /** Defaults to true; set false only for tests against self-signed servers. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface ConnectionOptions {
  url: string;
  headers?: Record<string, string>;
  tls?: TlsClientOptions;
  /** Source address for the TCP connection (load tests rotate 127.0.0.x). */
  localAddress?: string;
}

export interface TransportEvents {
  /** A decoded-frame payload (WebSocket) arrived. */
  onPayload(payload: Uint8Array): void;
  /** The server sent something that is not OpAMP framing (text frame, bad header). */
  onProtocolError(error: Error): void;
  /** The connection closed (WebSocket only). */
  onClose(code: number, reason: string): void;
}

export interface SimTransport {
  readonly kind: TransportKind;
  readonly isOpen: boolean;
  /** WebSocket: connect (rejects with {@link HttpStatusError} on a refused upgrade). HTTP: no-op. */
  open(): Promise<void>;
  /**
   * Sends an encoded AgentToServer. HTTP resolves with the reply payload
   * (decompressed); WebSocket resolves once written (replies arrive through
   * `onPayload`).
   */
  send(payload: Uint8Array): Promise<Uint8Array | undefined>;
  /** Sends bytes exactly as given: a whole WebSocket frame (no header added) or a whole HTTP body. */
  sendRaw(bytes: Uint8Array): Promise<Uint8Array | undefined>;
  /** Sends a text frame (WebSocket only), which OpAMP forbids. */
  sendText(text: string): Promise<void>;
  close(code?: number): Promise<void>;
}

/** A non-200 HTTP answer, or a refused WebSocket upgrade. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    /** Parsed Retry-After in milliseconds, when the server sent one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(`server answered HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Infers the transport from the URL scheme. */
export function transportForUrl(url: string): TransportKind {
  const scheme = new URL(url).protocol;
  if (scheme === 'ws:' || scheme === 'wss:') return 'websocket';
  if (scheme === 'http:' || scheme === 'https:') return 'http';
  throw new Error(`unsupported OpAMP URL scheme ${scheme}`);
}
