/**
 * A minimal DER reader/writer. The asn1 classes re-encode what they parse, but
 * signatures and OCSP CertID hashes cover exact bytes, so the few places that
 * need the original encoding (a certificate's TBS, subject and SPKI) read it here.
 */

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the value. */
  readonly end: number;
}

export function readTlv(buf: Buffer, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new RangeError('DER: truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('DER: high tag numbers are not supported');
  let lengthByte = buf[offset + 1]!;
  let contentStart = offset + 2;
  let length: number;
  if (lengthByte < 0x80) {
    length = lengthByte;
  } else {
    lengthByte &= 0x7f;
    if (lengthByte === 0 || lengthByte > 4) throw new RangeError('DER: unsupported length');
    if (contentStart + lengthByte > buf.length) throw new RangeError('DER: truncated length');
    length = 0;
    for (let i = 0; i < lengthByte; i++) length = length * 256 + buf[contentStart + i]!;
    contentStart += lengthByte;
  }
  const end = contentStart + length;
  if (end > buf.length) throw new RangeError('DER: value runs past the end');
  return { tag, start: offset, contentStart, end };
}

/** The TLVs directly inside a constructed value. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readTlv(buf, offset);
    if (child.end > parent.end) throw new RangeError('DER: child runs past its parent');
    out.push(child);
    offset = child.end;
  }
  return out;
}

export function slice(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.start, tlv.end);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...parts: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(parts));
}

export function bitString(content: Buffer): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), content]));
}

export function octetString(content: Buffer): Buffer {
  return tlv(0x04, content);
}

/** Minimal two's-complement content bytes of an INTEGER. */
export function integerContent(value: bigint): Buffer {
  if (value === 0n) return Buffer.from([0]);
  if (value < 0n) {
    // Negative serials exist in the wild; encode them faithfully.
    let bytes = 1;
    while (value < -(1n << BigInt(bytes * 8 - 1))) bytes++;
    const twos = (1n << BigInt(bytes * 8)) + value;
    return Buffer.from(twos.toString(16).padStart(bytes * 2, '0'), 'hex');
  }
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const raw = Buffer.from(hex, 'hex');
  return raw[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw;
}

export function integerFromContent(content: Uint8Array): bigint {
  if (content.length === 0) throw new RangeError('DER: empty INTEGER');
  const unsigned = BigInt(`0x${Buffer.from(content).toString('hex')}`);
  return content[0]! & 0x80 ? unsigned - (1n << BigInt(content.length * 8)) : unsigned;
}

export function integer(value: bigint): Buffer {
  return tlv(0x02, integerContent(value));
}
