/**
 * UUID helpers for instance uids: 16-byte values, generated as UUIDv7
 * with text conversion for storage keys and display.
 */
import { INSTANCE_UID_BYTES } from './validate';

/** Source of new instance uids; must return 16-byte UUIDv7 values. */
export type InstanceUidSource = () => Uint8Array;

export interface UuidV7SourceDeps {
  /** Current time in Unix milliseconds. */
  now: () => number;
  /** Cryptographically random bytes. */
  randomBytes: (length: number) => Uint8Array;
}

/** Builds a UUIDv7 from a millisecond timestamp and 10 random bytes (RFC 9562 §5.7). */
export function uuidV7(nowMs: number, random: Uint8Array): Uint8Array {
  if (random.length < 10) throw new RangeError('uuidV7 needs 10 random bytes');
  if (!Number.isSafeInteger(nowMs) || nowMs < 0)
    throw new RangeError('uuidV7 needs a non-negative integer time');
  const out = new Uint8Array(16);
  let ms = BigInt(nowMs);
  for (let i = 5; i >= 0; i--) {
    out[i] = Number(ms & 0xffn);
    ms >>= 8n;
  }
  out.set(random.subarray(0, 10), 6);
  out[6] = 0x70 | ((out[6] as number) & 0x0f);
  out[8] = 0x80 | ((out[8] as number) & 0x3f);
  return out;
}

/** A uid source producing UUIDv7 values from the injected clock and randomness. */
export function createUuidV7Source(deps: UuidV7SourceDeps): InstanceUidSource {
  return () => uuidV7(deps.now(), deps.randomBytes(10));
}

/** True for a 16-byte value with the UUID version 7 and RFC 9562 variant bits. */
export function isUuidV7(bytes: Uint8Array): boolean {
  return (
    bytes.length === INSTANCE_UID_BYTES &&
    ((bytes[6] as number) & 0xf0) === 0x70 &&
    ((bytes[8] as number) & 0xc0) === 0x80
  );
}

/** Canonical 8-4-4-4-12 lowercase text form of a 16-byte uid. */
export function uuidToString(bytes: Uint8Array): string {
  if (bytes.length !== INSTANCE_UID_BYTES)
    throw new RangeError(`expected ${INSTANCE_UID_BYTES} bytes, got ${bytes.length}`);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID_TEXT = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Parses a UUID in text form (dashes optional, as some agents send in the OpAMP-Instance-UID header). */
export function uuidFromString(text: string): Uint8Array {
  if (!UUID_TEXT.test(text)) throw new RangeError('not a UUID');
  const hex = text.replaceAll('-', '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
