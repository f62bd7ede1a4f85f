import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeyProtectorError } from './errors';
import { KEY_ID_BYTES } from './master-key';

/**
 * The sealed-value format, version 1. Binary layout (all lengths in bytes):
 *
 *   version(1) = 0x01
 *   scheme(1)  = 0x01  AES-256-GCM data under a fresh data key (DEK); DEK wrapped by a key wrapper
 *   keyId(8)          fingerprint of the wrapping key
 *   wrappedLen(2)     big-endian length of the wrapped DEK
 *   wrappedDek(n)     opaque to this layer (the master-key wrapper writes nonce ‖ ct ‖ tag)
 *   nonce(12)         data nonce
 *   tag(16)           data tag
 *   ciphertext(rest)
 *
 * The text form for TEXT columns is `amp:v1:` followed by the same bytes in unpadded base64url.
 *
 * The data tag covers version, scheme and the caller's AAD, but not keyId or the wrapped DEK: that
 * is what lets `rewrap` replace the wrapping without touching the data ciphertext. Those header
 * fields stay bound through the DEK wrap, which carries the same AAD.
 */
export const ENVELOPE_VERSION = 1;
export const SCHEME_AES256GCM_WRAPPED_DEK = 1;
export const SEALED_STRING_PREFIX = 'amp:v1:';

export const DEK_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FIXED_HEADER_BYTES = 2 + KEY_ID_BYTES + 2;
/** Room for the largest KMS ciphertext blob we expect (RSA-4096 wraps are 512 bytes). */
const MAX_WRAPPED_DEK_BYTES = 2048;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface Envelope {
  readonly keyId: Buffer;
  readonly wrappedDek: Buffer;
  readonly nonce: Buffer;
  readonly tag: Buffer;
  readonly ciphertext: Buffer;
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  const { keyId, wrappedDek, nonce, tag, ciphertext } = envelope;
  if (keyId.length !== KEY_ID_BYTES) throw new RangeError(`a key id must be ${KEY_ID_BYTES} bytes`);
  if (wrappedDek.length === 0 || wrappedDek.length > MAX_WRAPPED_DEK_BYTES) {
    throw new RangeError(`a wrapped data key must be 1..${MAX_WRAPPED_DEK_BYTES} bytes`);
  }
  const header = Buffer.alloc(FIXED_HEADER_BYTES);
  header[0] = ENVELOPE_VERSION;
  header[1] = SCHEME_AES256GCM_WRAPPED_DEK;
  keyId.copy(header, 2);
  header.writeUInt16BE(wrappedDek.length, 2 + KEY_ID_BYTES);
  return Buffer.concat([header, wrappedDek, nonce, tag, ciphertext]);
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FIXED_HEADER_BYTES) throw new KeyProtectorError('malformed');
  if (buf[0] !== ENVELOPE_VERSION || buf[1] !== SCHEME_AES256GCM_WRAPPED_DEK) {
    throw new KeyProtectorError('malformed');
  }
  const wrappedLen = buf.readUInt16BE(2 + KEY_ID_BYTES);
  const nonceAt = FIXED_HEADER_BYTES + wrappedLen;
  if (
    wrappedLen === 0 ||
    wrappedLen > MAX_WRAPPED_DEK_BYTES ||
    buf.length < nonceAt + NONCE_BYTES + TAG_BYTES
  ) {
    throw new KeyProtectorError('malformed');
  }
  // Copies, so a caller that reuses its buffer cannot change a decoded envelope under us.
  return {
    keyId: Buffer.from(buf.subarray(2, 2 + KEY_ID_BYTES)),
    wrappedDek: Buffer.from(buf.subarray(FIXED_HEADER_BYTES, nonceAt)),
    nonce: Buffer.from(buf.subarray(nonceAt, nonceAt + NONCE_BYTES)),
    tag: Buffer.from(buf.subarray(nonceAt + NONCE_BYTES, nonceAt + NONCE_BYTES + TAG_BYTES)),
    ciphertext: Buffer.from(buf.subarray(nonceAt + NONCE_BYTES + TAG_BYTES)),
  };
}

export function toSealedString(bytes: Uint8Array): string {
  return SEALED_STRING_PREFIX + Buffer.from(bytes).toString('base64url');
}

/** Accepts either form; a string must be the `amp:v1:` text form in strict base64url. */
export function sealedBytes(sealed: Uint8Array | string): Buffer {
  if (typeof sealed !== 'string') return Buffer.from(sealed);
  if (!sealed.startsWith(SEALED_STRING_PREFIX)) throw new KeyProtectorError('malformed');
  const body = sealed.slice(SEALED_STRING_PREFIX.length);
  if (!BASE64URL.test(body)) throw new KeyProtectorError('malformed');
  const bytes = Buffer.from(body, 'base64url');
  // Node decodes leniently; a round trip rejects bodies with stray trailing bits.
  if (bytes.toString('base64url') !== body) throw new KeyProtectorError('malformed');
  return bytes;
}

export function parseSealed(sealed: Uint8Array | string): Envelope {
  return decodeEnvelope(sealedBytes(sealed));
}

/** AAD of the data cipher: version and scheme, then the caller's location label. */
export function dataAad(aad: string): Buffer {
  return Buffer.concat([
    Buffer.from([ENVELOPE_VERSION, SCHEME_AES256GCM_WRAPPED_DEK]),
    Buffer.from(aad, 'utf8'),
  ]);
}

/** AAD of the DEK wrap: a separate label, so a wrap can never be confused with data. */
export function wrapAad(aad: string): Buffer {
  return Buffer.concat([Buffer.from('ampora/keys/dek-wrap/v1\0', 'utf8'), Buffer.from(aad, 'utf8')]);
}

export function encryptData(
  dek: Buffer,
  plaintext: Uint8Array,
  aad: string,
): Pick<Envelope, 'nonce' | 'tag' | 'ciphertext'> {
  // A DEK encrypts exactly one message, so this random nonce is the only one ever used with it.
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dek, nonce);
  cipher.setAAD(dataAad(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, tag: cipher.getAuthTag(), ciphertext };
}

export function decryptData(dek: Buffer, envelope: Envelope, aad: string): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', dek, envelope.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(dataAad(aad));
    decipher.setAuthTag(envelope.tag);
    return Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]);
  } catch {
    throw new KeyProtectorError('tampered', envelope.keyId.toString('hex'));
  }
}
