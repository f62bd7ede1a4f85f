import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KeyWrapper } from './crypto-provider';
import { InvalidMasterKeyError, KeyProtectorError } from './errors';

export const MASTER_KEY_SETTING = 'AMPORA_KEY_PROTECTION_MASTER_KEY';
export const PREVIOUS_MASTER_KEY_SETTING = 'AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY';
export const MASTER_KEY_BYTES = 32;
export const KEY_ID_BYTES = 8;

const KEY_ID_LABEL = Buffer.from('ampora/keys/master-key-id/v1\0', 'utf8');
const WRAP_NONCE_BYTES = 12;
const WRAP_TAG_BYTES = 16;
const DEK_BYTES = 32;
const WRAPPED_DEK_BYTES = WRAP_NONCE_BYTES + DEK_BYTES + WRAP_TAG_BYTES;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Decodes a master key from base64 (standard or URL-safe, padding optional). Errors name the
 * setting and say what is wrong, but never repeat the value.
 */
export function parseMasterKey(value: string | undefined, setting: string = MASTER_KEY_SETTING): Buffer {
  const text = value?.trim() ?? '';
  if (text === '') throw new InvalidMasterKeyError(setting, 'is not set.');
  if (!BASE64.test(text)) {
    throw new InvalidMasterKeyError(setting, 'is not valid base64 (standard or URL-safe alphabet).');
  }
  const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  assertMasterKey(key, setting);
  return key;
}

/** The previous master key is optional: unset or empty means "no rotation in progress". */
export function parsePreviousMasterKey(value: string | undefined): Buffer | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return parseMasterKey(value, PREVIOUS_MASTER_KEY_SETTING);
}

/** A fresh random master key in the base64 form that `parseMasterKey` reads. */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64');
}

export function assertMasterKey(key: Uint8Array, setting: string): void {
  if (key.length !== MASTER_KEY_BYTES) {
    throw new InvalidMasterKeyError(
      setting,
      `must decode to exactly ${MASTER_KEY_BYTES} bytes, but has ${key.length}; generate one with \`openssl rand -base64 32\`.`,
    );
  }
  // A constant key (all zeros, say) is a placeholder that slipped into production, not a random key.
  if (key.every((byte) => byte === key[0])) {
    throw new InvalidMasterKeyError(setting, 'is a placeholder (every byte is the same), not a random key.');
  }
}

/** Short public fingerprint of a master key: the first 8 bytes of SHA-256(label ‖ key). */
export function masterKeyId(key: Uint8Array): Buffer {
  return createHash('sha256').update(KEY_ID_LABEL).update(key).digest().subarray(0, KEY_ID_BYTES);
}

/**
 * Wraps data keys under a master key with AES-256-GCM, one random nonce per wrap. Output:
 * nonce(12) ‖ encrypted DEK(32) ‖ tag(16).
 */
export function createMasterKeyWrapper(master: Uint8Array): KeyWrapper {
  const key = Buffer.from(master);
  const wrappingKeyId = masterKeyId(key);
  return {
    wrappingKeyId,
    async wrapKey(dek, aad) {
      if (dek.length !== DEK_BYTES) throw new RangeError(`a data key must be ${DEK_BYTES} bytes`);
      const nonce = randomBytes(WRAP_NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(aad);
      const body = Buffer.concat([cipher.update(dek), cipher.final()]);
      return Buffer.concat([nonce, body, cipher.getAuthTag()]);
    },
    async unwrapKey(wrapped, aad) {
      if (wrapped.length !== WRAPPED_DEK_BYTES)
        throw new KeyProtectorError('tampered', wrappingKeyId.toString('hex'));
      const nonce = wrapped.subarray(0, WRAP_NONCE_BYTES);
      const body = wrapped.subarray(WRAP_NONCE_BYTES, WRAP_NONCE_BYTES + DEK_BYTES);
      const tag = wrapped.subarray(WRAP_NONCE_BYTES + DEK_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce);
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        throw new KeyProtectorError('tampered', wrappingKeyId.toString('hex'));
      }
    },
  };
}
