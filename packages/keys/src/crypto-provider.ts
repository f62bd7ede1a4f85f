/**
 * The seam between Ampora and whatever holds key material: the software provider (keys wrapped by
 * the key protector and stored in Postgres) or a KMS/HSM that never exports them. Everything is
 * async because a KMS answers over the network.
 */

/** Wraps and unwraps data-encryption keys. The key protector seals every value through one of these. */
export interface KeyWrapper {
  /**
   * 8-byte fingerprint of the wrapping key, written into every envelope so that `open` can pick the
   * right wrapper and `needsRewrap` can tell old values from current ones. Not secret.
   */
  readonly wrappingKeyId: Buffer;
  /** Encrypts `dek`, bound to `aad` (a KMS adapter maps it to its encryption context). */
  wrapKey(dek: Buffer, aad: Buffer): Promise<Buffer>;
  /**
   * Reverses `wrapKey`. Must throw `KeyProtectorError('tampered')` when authentication fails (wrong
   * `aad` or altered bytes); any other error (for example, a KMS that is unreachable) passes through.
   */
  unwrapKey(wrapped: Buffer, aad: Buffer): Promise<Buffer>;
}

export type CryptoProviderKind =
  'software' | 'aws-kms' | 'azure-key-vault' | 'gcp-kms' | 'pkcs11' | 'vault-transit';

export type SigningKeySpec =
  | { readonly kty: 'EC'; readonly curve: 'P-256' | 'P-384' }
  | { readonly kty: 'RSA'; readonly bits: 2048 | 3072 | 4096 };

/** Signature algorithms as X.509 uses them. ECDSA signatures are DER-encoded (not raw r‖s). */
export type SignatureAlgorithm =
  | 'ecdsa-sha256'
  | 'ecdsa-sha384'
  | 'ecdsa-sha512'
  | 'rsa-pkcs1-sha256'
  | 'rsa-pkcs1-sha384'
  | 'rsa-pkcs1-sha512'
  | 'rsa-pss-sha256'
  | 'rsa-pss-sha384'
  | 'rsa-pss-sha512';

export interface GeneratedSigningKey {
  /**
   * Opaque reference the caller stores and hands back to `sign`/`publicKey`. For the software
   * provider it is the sealed private key; for a KMS it names the key (an ARN, a key URI, …).
   */
  readonly keyRef: string;
  readonly publicKeySpkiDer: Buffer;
}

export interface CryptoProvider extends KeyWrapper {
  /** Names this provider instance, e.g. `software` or `aws-kms:<key arn>`. */
  readonly id: string;
  readonly kind: CryptoProviderKind;
  generateSigningKey(spec: SigningKeySpec): Promise<GeneratedSigningKey>;
  /** Signs the whole message `data` (the provider hashes it with the algorithm's digest). */
  sign(keyRef: string, algorithm: SignatureAlgorithm, data: Uint8Array): Promise<Buffer>;
  /** The public key of `keyRef` as SubjectPublicKeyInfo DER. */
  publicKey(keyRef: string): Promise<Buffer>;
}
