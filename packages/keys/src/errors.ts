/**
 * Failure of a key-protector operation. The message is fixed per code, so it can never carry
 * key material, plaintext or the text of an underlying crypto error.
 */
export type KeyProtectorErrorCode = 'wrong_key' | 'tampered' | 'unknown_key_id' | 'malformed';

const MESSAGES: Record<KeyProtectorErrorCode, string> = {
  wrong_key: 'The configured master key is not the key these values were sealed with.',
  tampered: 'The sealed value failed authentication: it was altered, or it belongs to a different location.',
  unknown_key_id: 'The sealed value is wrapped under a key that is not configured.',
  malformed: 'The value is not a sealed value in a known format.',
};

export class KeyProtectorError extends Error {
  override readonly name = 'KeyProtectorError';
  readonly code: KeyProtectorErrorCode;
  /** Fingerprint (hex) of the wrapping key named by the value, when known. It is not secret. */
  readonly keyId: string | undefined;

  constructor(code: KeyProtectorErrorCode, keyId?: string) {
    super(MESSAGES[code]);
    this.code = code;
    this.keyId = keyId;
  }
}

/** A master-key setting that cannot be used. Names the setting, never echoes its value. */
export class InvalidMasterKeyError extends Error {
  override readonly name = 'InvalidMasterKeyError';
  readonly setting: string;

  constructor(setting: string, problem: string) {
    super(`${setting} ${problem}`);
    this.setting = setting;
  }
}

export type CryptoProviderErrorCode =
  'unsupported_key_spec' | 'unsupported_algorithm' | 'algorithm_key_mismatch';

const PROVIDER_MESSAGES: Record<CryptoProviderErrorCode, string> = {
  unsupported_key_spec: 'The crypto provider does not support this signing key type.',
  unsupported_algorithm: 'The crypto provider does not support this signature algorithm.',
  algorithm_key_mismatch: 'The signature algorithm does not match the type of the signing key.',
};

/** A crypto-provider request that cannot be served; fixed messages, like `KeyProtectorError`. */
export class CryptoProviderError extends Error {
  override readonly name = 'CryptoProviderError';
  readonly code: CryptoProviderErrorCode;

  constructor(code: CryptoProviderErrorCode) {
    super(PROVIDER_MESSAGES[code]);
    this.code = code;
  }
}
