import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

const HKDF_SALT = Buffer.from('ampora/keys/hkdf/v1', 'utf8');
const PURPOSE = /^[a-z0-9][a-z0-9._:-]{0,63}$/;
const MIN_SECRET_BYTES = 16;
const MAX_SECRET_BYTES = 64;

/** Whether the subkey signs (HMAC) or is handed out as a secret; the two never share a key. */
type Namespace = 'hmac' | 'secret';

function assertPurpose(purpose: string): void {
  if (!PURPOSE.test(purpose)) {
    throw new TypeError('a key purpose must be 1-64 characters of a-z, 0-9, ".", "_", ":" or "-"');
  }
}

/**
 * HKDF-SHA256 subkeys of one master key, one per (namespace, purpose) label. A subkey is cached,
 * because the set of purposes is small and fixed by the code.
 */
export interface KeyDeriver {
  hmac(purpose: string, data: Uint8Array | string): Buffer;
  deriveSecret(purpose: string, length: number): Buffer;
}

export function createKeyDeriver(master: Uint8Array): KeyDeriver {
  const ikm = Buffer.from(master);
  const cache = new Map<string, Buffer>();

  function subkey(namespace: Namespace, purpose: string, length: number): Buffer {
    assertPurpose(purpose);
    const info = `${namespace}:${purpose}:${length}`;
    let key = cache.get(info);
    if (key === undefined) {
      key = Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, Buffer.from(info, 'utf8'), length));
      cache.set(info, key);
    }
    return key;
  }

  return {
    hmac(purpose: string, data: Uint8Array | string): Buffer {
      return createHmac('sha256', subkey('hmac', purpose, 32))
        .update(data)
        .digest();
    },
    deriveSecret(purpose: string, length: number): Buffer {
      if (!Number.isInteger(length) || length < MIN_SECRET_BYTES || length > MAX_SECRET_BYTES) {
        throw new RangeError(`a derived secret must be ${MIN_SECRET_BYTES}..${MAX_SECRET_BYTES} bytes`);
      }
      // A copy: the caller may zero or hand on its buffer without touching the cache.
      return Buffer.from(subkey('secret', purpose, length));
    },
  };
}

export function macEquals(expected: Buffer, actual: Uint8Array): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
