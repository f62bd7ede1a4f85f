import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import {
  AgentToServerSchema,
  ServerToAgentSchema,
  create,
  decodeFrame,
  encodeFrame,
  fromBinary,
  toBinary,
  uuidV7,
  type MessageInitShape,
  type ServerToAgent,
} from '@ampora/opamp';

/** How a WebSocket upgrade ended: the open socket, or the refusal's HTTP status and headers. */
export type WsUpgrade =
  | { status: 101; ws: WebSocket; headers?: undefined }
  | { status: number; ws?: undefined; headers: IncomingHttpHeaders };

/** One WebSocket upgrade attempt: a refusal resolves with its status; only a transport error rejects. */
export function wsUpgrade(url: string, options: WebSocket.ClientOptions = {}): Promise<WsUpgrade> {
  const ws = new WebSocket(url, options);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.resume();
      ws.terminate();
    });
  });
}

/** A bare WebSocket OpAMP peer for protocol tests: sends exactly what it is told, records every reply. */
export class RawWsAgent {
  readonly received: ServerToAgent[] = [];
  closeCode?: number;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data);
      if (f.ok) this.received.push(fromBinary(ServerToAgentSchema, f.payload));
      this.waiters.splice(0).forEach((w) => w());
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<RawWsAgent> {
    const upgrade = await wsUpgrade(url, options);
    if (!upgrade.ws) throw new Error(`HTTP ${upgrade.status}`);
    return new RawWsAgent(upgrade.ws);
  }

  send(msg: MessageInitShape<typeof AgentToServerSchema>) {
    this.ws.send(encodeFrame(agentToServerBytes(msg)));
  }

  sendRaw(data: Buffer | string, binary = true) {
    this.ws.send(data, { binary });
  }

  /** Waits until `count` replies in total have arrived (or the socket closed). */
  async waitFor(count: number, timeoutMs = 5000): Promise<ServerToAgent> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (this.closeCode !== undefined) throw new Error(`socket closed with ${this.closeCode}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for reply ${count}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.received[count - 1]!;
  }

  async waitForClose(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closeCode;
  }

  close() {
    this.ws.close();
  }
}

/** A fresh UUIDv7 instance uid. */
export function newUid(): Uint8Array {
  return uuidV7(Date.now(), randomBytes(10));
}

/** One AgentToServer message, serialized as it goes over the wire (before any WebSocket framing). */
export function agentToServerBytes(msg: MessageInitShape<typeof AgentToServerSchema>): Uint8Array {
  return toBinary(AgentToServerSchema, create(AgentToServerSchema, msg));
}

/** POSTs one AgentToServer over plain HTTP. */
export async function postOpamp(
  url: string,
  body: Uint8Array | Buffer,
  headers: Record<string, string> = {},
) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', ...headers },
    body: Buffer.from(body),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes };
}
