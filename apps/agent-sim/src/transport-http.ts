/**
 * Plain HTTP transport: each AgentToServer is a POST of
 * `application/x-protobuf`, answered by exactly one ServerToAgent.
 */
import http from 'node:http';
import https from 'node:https';
import { gunzipSync, gzipSync } from 'node:zlib';
import { uuidToString } from '@ampora/opamp';
import { HttpStatusError, parseRetryAfter, type ConnectionOptions, type SimTransport } from './transport';

export interface HttpTransportOptions extends ConnectionOptions {
  /** gzip request bodies and accept gzip replies. */
  gzip?: boolean;
  /** Supplies the current uid for the OpAMP-Instance-UID header. */
  instanceUid: () => Uint8Array;
  requestTimeoutMs?: number;
}

export function createHttpTransport(options: HttpTransportOptions): SimTransport {
  const url = new URL(options.url);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 1, ...options.tls })
    : new http.Agent({ keepAlive: true, maxSockets: 1 });
  let open = true;

  function post(body: Uint8Array, compressible: boolean): Promise<Uint8Array> {
    const gzip = options.gzip === true && compressible;
    const payload = gzip ? gzipSync(body) : body;
    const headers: Record<string, string | number> = {
      ...options.headers,
      'Content-Type': 'application/x-protobuf',
      'Content-Length': payload.length,
      'OpAMP-Instance-UID': uuidToString(options.instanceUid()),
    };
    if (gzip) headers['Content-Encoding'] = 'gzip';
    if (options.gzip) headers['Accept-Encoding'] = 'gzip';
    const request = secure ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers,
          localAddress: options.localAddress,
          timeout: options.requestTimeoutMs ?? 30_000,
          ...(secure ? options.tls : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            if (res.statusCode !== 200) {
              reject(new HttpStatusError(res.statusCode ?? 0, parseRetryAfter(res.headers['retry-after'])));
              return;
            }
            try {
              const raw = Buffer.concat(chunks);
              resolve(res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw);
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('OpAMP HTTP request timed out')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  return {
    kind: 'http',
    get isOpen() {
      return open;
    },
    async open() {
      open = true;
    },
    send: (payload) => post(payload, true),
    sendRaw: (bytes) => post(bytes, false),
    async sendText() {
      throw new Error('text frames exist only on the WebSocket transport');
    },
    async close() {
      open = false;
      agent.destroy();
    },
  };
}
