import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyWrapper } from './crypto-provider';
import {
  DEK_BYTES,
  decryptData,
  encodeEnvelope,
  encryptData,
  parseSealed,
  sealedBytes,
  toSealedString,
  wrapAad,
} from './envelope';
import type { Envelope } from './envelope';
import { InvalidMasterKeyError, KeyProtectorError } from './errors';
import { createKeyDeriver, macEquals } from './key-derivation';
import {
  MASTER_KEY_SETTING,
  PREVIOUS_MASTER_KEY_SETTING,
  assertMasterKey,
  createMasterKeyWrapper,
} from './master-key';

/*
 * Why a fresh data key (DEK) per sealed value:
 * AES-GCM with random 96-bit nonces is safe for about 2^32 encryptions under one key; past that,
 * the chance of a repeated nonce (which breaks both secrecy and integrity) is no longer negligible.
 * Each DEK encrypts exactly one message, so data nonces can never repeat, however often values are
 * rewritten. The master key only encrypts 32-byte DEKs, one per `seal`; the 2^32 bound on it would
 * take four billion seals, while an install seals a few thousand values on human timescales, and a
 * rotation starts a new key. That is why no per-key usage counter (with its persistence and
 * cross-replica coordination) is kept.
 */

const KEY_CHECK_AAD = 'ampora:key-check';
const KEY_CHECK_PLAINTEXT = Buffer.from('ampora key check v1', 'utf8');
const MAX_AAD_CHARS = 1024;

export interface KeyProtectorOptions {
  /** The current master key, 32 bytes (see `parseMasterKey`). */
  readonly master: Uint8Array;
  /** The master key before the last rotation: values under it still open, and can be rewrapped. */
  readonly previous?: Uint8Array;
  /**
   * Wraps data keys instead of the master key (a KMS or HSM). Values wrapped under the master or
   * previous master key still open, and `rewrap` moves them to the provider.
   */
  readonly provider?: KeyWrapper;
}

/** Where a key-check canary stands relative to the configured keys. */
export type KeyCheckStatus = 'current' | 'previous';

export interface KeyProtector {
  /** Fingerprint (hex) of the key new values are wrapped under. Safe to log. */
  readonly keyId: string;
  /**
   * Encrypts `plaintext` under a fresh data key. `aad` names where the value lives (for example
   * `ca_keys:private_key:<row id>`); `open` must be given the same string.
   */
  seal(plaintext: Uint8Array | string, aad: string): Promise<Buffer>;
  /** `seal`, in the `amp:v1:…` text form for TEXT columns. */
  sealToString(plaintext: Uint8Array | string, aad: string): Promise<string>;
  /** Decrypts either form. Throws `KeyProtectorError` (`tampered` also covers a different `aad`). */
  open(sealed: Uint8Array | string, aad: string): Promise<Buffer>;
  /** `open`, decoding the plaintext as UTF-8. */
  openToString(sealed: Uint8Array | string, aad: string): Promise<string>;
  /**
   * True when the value is wrapped under an older key (the previous master key, or the master key
   * once a provider wraps). Throws `unknown_key_id` for a key that is not configured at all.
   */
  needsRewrap(sealed: Uint8Array | string): boolean;
  /**
   * Re-wraps only the data key under the current key; nonce, tag and data ciphertext are kept.
   * A value already on the current key comes back unchanged. The output has the input's form.
   */
  rewrap(sealed: string, aad: string): Promise<string>;
  rewrap(sealed: Uint8Array, aad: string): Promise<Buffer>;
  /** A sealed canary to store next to the data, for `verifyKeyCheck` at start-up. */
  keyCheck(): Promise<string>;
  /**
   * Proves the configured keys can open data written earlier. Throws `wrong_key` when the canary
   * is under a key that is not configured, so a wrong master key stops start-up before any write.
   * `previous` means the canary (and likely other values) should be rewrapped.
   */
  verifyKeyCheck(canary: Uint8Array | string): Promise<KeyCheckStatus>;
  /** HMAC-SHA256 under a per-purpose subkey (for example `audit-secret-hmac`) of the master key. */
  hmac(purpose: string, data: Uint8Array | string): Buffer;
  /** Checks an `hmac` value in constant time, against the current and the previous master key. */
  verifyHmac(purpose: string, data: Uint8Array | string, mac: Uint8Array): boolean;
  /**
   * A stable secret for `purpose` (for example `db-app-role-password`), HKDF-SHA256 from the
   * current master key. It changes when the master key rotates.
   */
  deriveSecret(purpose: string, length?: number): Buffer;
}

function assertAad(aad: string): void {
  if (typeof aad !== 'string' || aad.length === 0 || aad.length > MAX_AAD_CHARS) {
    throw new TypeError(`aad must be a non-empty string of at most ${MAX_AAD_CHARS} characters`);
  }
}

function toBytes(plaintext: Uint8Array | string): Uint8Array {
  return typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
}

export function createKeyProtector(options: KeyProtectorOptions): KeyProtector {
  assertMasterKey(options.master, MASTER_KEY_SETTING);
  if (options.previous !== undefined) {
    assertMasterKey(options.previous, PREVIOUS_MASTER_KEY_SETTING);
    if (timingSafeEqual(options.master, options.previous)) {
      throw new InvalidMasterKeyError(PREVIOUS_MASTER_KEY_SETTING, `must differ from ${MASTER_KEY_SETTING}.`);
    }
  }

  const masterWrapper = createMasterKeyWrapper(options.master);
  const previousWrapper =
    options.previous === undefined ? undefined : createMasterKeyWrapper(options.previous);
  const current = options.provider ?? masterWrapper;
  const currentId = current.wrappingKeyId.toString('hex');
  const wrappers = new Map<string, KeyWrapper>();
  for (const wrapper of [current, masterWrapper, previousWrapper]) {
    if (wrapper !== undefined && !wrappers.has(wrapper.wrappingKeyId.toString('hex'))) {
      wrappers.set(wrapper.wrappingKeyId.toString('hex'), wrapper);
    }
  }
  const derivers = {
    current: createKeyDeriver(options.master),
    previous: options.previous === undefined ? undefined : createKeyDeriver(options.previous),
  };

  function wrapperFor(envelope: Envelope): KeyWrapper {
    const id = envelope.keyId.toString('hex');
    const wrapper = wrappers.get(id);
    if (wrapper === undefined) throw new KeyProtectorError('unknown_key_id', id);
    return wrapper;
  }

  async function unwrapDek(envelope: Envelope, aad: string): Promise<Buffer> {
    const dek = await wrapperFor(envelope).unwrapKey(envelope.wrappedDek, wrapAad(aad));
    if (dek.length !== DEK_BYTES) throw new KeyProtectorError('tampered', envelope.keyId.toString('hex'));
    return dek;
  }

  async function seal(plaintext: Uint8Array | string, aad: string): Promise<Buffer> {
    assertAad(aad);
    const dek = randomBytes(DEK_BYTES);
    try {
      const data = encryptData(dek, toBytes(plaintext), aad);
      const wrappedDek = await current.wrapKey(dek, wrapAad(aad));
      return encodeEnvelope({ keyId: current.wrappingKeyId, wrappedDek, ...data });
    } finally {
      dek.fill(0);
    }
  }

  async function open(sealed: Uint8Array | string, aad: string): Promise<Buffer> {
    assertAad(aad);
    const envelope = parseSealed(sealed);
    const dek = await unwrapDek(envelope, aad);
    try {
      return decryptData(dek, envelope, aad);
    } finally {
      dek.fill(0);
    }
  }

  async function rewrapBytes(bytes: Buffer, aad: string): Promise<Buffer | undefined> {
    const envelope = parseSealed(bytes);
    if (envelope.keyId.equals(current.wrappingKeyId)) return undefined;
    const dek = await unwrapDek(envelope, aad);
    try {
      // Authenticate the data too, so a damaged value is reported now rather than carried forward.
      decryptData(dek, envelope, aad).fill(0);
      const wrappedDek = await current.wrapKey(dek, wrapAad(aad));
      return encodeEnvelope({ ...envelope, keyId: current.wrappingKeyId, wrappedDek });
    } finally {
      dek.fill(0);
    }
  }

  async function rewrap(sealed: string, aad: string): Promise<string>;
  async function rewrap(sealed: Uint8Array, aad: string): Promise<Buffer>;
  async function rewrap(sealed: Uint8Array | string, aad: string): Promise<Buffer | string> {
    assertAad(aad);
    const rewrapped = await rewrapBytes(sealedBytes(sealed), aad);
    if (rewrapped === undefined) return typeof sealed === 'string' ? sealed : Buffer.from(sealed);
    return typeof sealed === 'string' ? toSealedString(rewrapped) : rewrapped;
  }

  return {
    keyId: currentId,
    seal,
    async sealToString(plaintext, aad) {
      return toSealedString(await seal(plaintext, aad));
    },
    open,
    async openToString(sealed, aad) {
      return (await open(sealed, aad)).toString('utf8');
    },
    needsRewrap(sealed) {
      const envelope = parseSealed(sealed);
      wrapperFor(envelope);
      return !envelope.keyId.equals(current.wrappingKeyId);
    },
    rewrap,
    async keyCheck() {
      return toSealedString(await seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD));
    },
    async verifyKeyCheck(canary) {
      const envelope = parseSealed(canary);
      const id = envelope.keyId.toString('hex');
      if (!wrappers.has(id)) throw new KeyProtectorError('wrong_key', id);
      const plaintext = await open(canary, KEY_CHECK_AAD);
      if (!macEquals(KEY_CHECK_PLAINTEXT, plaintext)) throw new KeyProtectorError('tampered', id);
      return id === currentId ? 'current' : 'previous';
    },
    hmac(purpose, data) {
      return derivers.current.hmac(purpose, data);
    },
    verifyHmac(purpose, data, mac) {
      if (macEquals(derivers.current.hmac(purpose, data), mac)) return true;
      return derivers.previous !== undefined && macEquals(derivers.previous.hmac(purpose, data), mac);
    },
    deriveSecret(purpose, length = 32) {
      return derivers.current.deriveSecret(purpose, length);
    },
  };
}
