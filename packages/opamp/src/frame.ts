/**
 * OpAMP WebSocket frame header codec.
 *
 * Every OpAMP WebSocket message is a binary frame holding a varint header
 * followed by the protobuf payload. The only defined header value is 0, so
 * a conforming sender writes the single byte 0x00. Header-less frames from
 * pre-2023 agents are deliberately not accepted: their first byte is a
 * protobuf tag, never a zero varint, so they fail as `bad_header`.
 */

/** Result of splitting a received frame into header and payload. */
export type FrameDecodeResult =
  | { ok: true; payload: Uint8Array }
  | { ok: false; reason: 'missing_header' | 'truncated_header' | 'bad_header'; detail: string };

/** A varint is at most 10 bytes (64 bits, 7 bits per byte). */
const MAX_VARINT_BYTES = 10;

/** Frames a payload for sending: header 0x00, then the bytes unchanged. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(payload.length + 1);
  frame[0] = 0;
  frame.set(payload, 1);
  return frame;
}

/**
 * Reads the varint header and returns the payload that follows it. The
 * payload is a view on the input (no copy). A frame consisting of just the
 * header is valid and yields an empty payload (an empty AgentToServer).
 */
export function decodeFrame(frame: Uint8Array): FrameDecodeResult {
  if (frame.length === 0) {
    return { ok: false, reason: 'missing_header', detail: 'frame is empty; expected a varint header' };
  }
  let header = 0n;
  let length = 0;
  for (;;) {
    if (length >= frame.length || length >= MAX_VARINT_BYTES) {
      return { ok: false, reason: 'truncated_header', detail: 'frame header varint is not terminated' };
    }
    const byte = frame[length] as number;
    header |= BigInt(byte & 0x7f) << BigInt(7 * length);
    length++;
    if ((byte & 0x80) === 0) break;
  }
  if (header !== 0n) {
    return { ok: false, reason: 'bad_header', detail: `frame header is ${header}; only 0 is defined` };
  }
  // The payload position is the frame length minus the header length, so a
  // multi-byte encoding of 0 is honoured too.
  return { ok: true, payload: frame.subarray(length) };
}
