import { ServerToAgentSchema, encodeFrame, toBinary, type ServerToAgent } from '@ampora/opamp';

/**
 * Encodes a reply, enforcing the outbound size limit before any compression (T-13, T-21).
 * Returns undefined when the message is too large; the caller sends a bare ack instead (T-14, T-22).
 */
export function encodeServerToAgent(msg: ServerToAgent, maxBytes: number): Uint8Array | undefined {
  const bytes = toBinary(ServerToAgentSchema, msg);
  return bytes.length <= maxBytes ? bytes : undefined;
}

export function frame(bytes: Uint8Array): Buffer {
  const framed = encodeFrame(bytes);
  return Buffer.from(framed.buffer, framed.byteOffset, framed.byteLength);
}
