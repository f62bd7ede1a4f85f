import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from './frame';

describe('WebSocket frame header', () => {
  it('T-4: encodes a single 0x00 header byte followed by the payload', () => {
    const frame = encodeFrame(new Uint8Array([8, 1, 16, 2]));
    expect([...frame]).toEqual([0, 8, 1, 16, 2]);
  });

  it('T-5: the payload is the frame minus the header length, also for a multi-byte varint 0', () => {
    const single = decodeFrame(new Uint8Array([0, 10, 20]));
    const multi = decodeFrame(new Uint8Array([0x80, 0x80, 0x00, 10, 20]));
    expect(single.ok && [...single.payload]).toEqual([10, 20]);
    expect(multi.ok && [...multi.payload]).toEqual([10, 20]);
  });

  it('T-6: a non-zero header is malformed', () => {
    const res = decodeFrame(new Uint8Array([1, 10, 20]));
    expect(res).toMatchObject({ ok: false, reason: 'bad_header' });
    // A legacy header-less frame starts with a protobuf tag such as 0x0a.
    expect(decodeFrame(new Uint8Array([0x0a, 0x10]))).toMatchObject({ ok: false, reason: 'bad_header' });
    // A large multi-byte header is still read as one varint and rejected.
    expect(decodeFrame(new Uint8Array([0x81, 0x01, 5]))).toMatchObject({ ok: false, reason: 'bad_header' });
  });

  it('T-7: a frame that is only the header carries an empty, valid payload', () => {
    const res = decodeFrame(encodeFrame(new Uint8Array(0)));
    expect(res.ok).toBe(true);
    expect(res.ok && res.payload.length).toBe(0);
  });

  it('T-8: a frame without any header byte, or with an unterminated varint, is malformed', () => {
    expect(decodeFrame(new Uint8Array(0))).toMatchObject({ ok: false, reason: 'missing_header' });
    expect(decodeFrame(new Uint8Array([0x80]))).toMatchObject({ ok: false, reason: 'truncated_header' });
    expect(decodeFrame(new Uint8Array(11).fill(0x80))).toMatchObject({
      ok: false,
      reason: 'truncated_header',
    });
  });

  it('round-trips arbitrary payloads without copying the payload view', () => {
    const payload = new Uint8Array(300).map((_, i) => i % 256);
    const res = decodeFrame(encodeFrame(payload));
    expect(res.ok && Buffer.from(res.payload).equals(Buffer.from(payload))).toBe(true);
  });
});
