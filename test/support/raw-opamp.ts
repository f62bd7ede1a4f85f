import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  AgentToServerSchema,
  ServerToAgentSchema,
  create,
  decodeFrame,
  encodeFrame,
  fromBinary,
  toBinary,
  type MessageInitShape,
  type ServerToAgent,
} from '@ampora/opamp';

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
    const ws = new WebSocket(url, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new RawWsAgent(ws);
  }

  send(msg: MessageInitShape<typeof AgentToServerSchema>) {
    this.ws.send(encodeFrame(toBinary(AgentToServerSchema, create(AgentToServerSchema, msg))));
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

/** A random UUIDv7-shaped instance uid. */
export function newUid(): Uint8Array {
  const b = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return new Uint8Array(b);
}

export function uidString(uid: Uint8Array): string {
  const h = Buffer.from(uid).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
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
