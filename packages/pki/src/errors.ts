/** Stable reasons a PKI operation refuses its input; callers map them to protocol errors. */
export type PkiErrorCode =
  /** The input is not the DER/PEM structure it claims to be. */
  | 'malformed'
  /** A signature (CSR self-signature, chain link) does not verify. */
  | 'bad_signature'
  /** RSA below 2048 bits, or an elliptic curve other than P-256/P-384. */
  | 'weak_key'
  /** A signature, hash or PBE algorithm this library does not accept. */
  | 'unsupported_algorithm'
  /** A private key (or signer) does not belong to the certificate it is paired with. */
  | 'key_mismatch'
  /** A certificate used as an issuer is not a CA, or may not sign what is asked. */
  | 'not_a_ca'
  /** Certificates that should form a chain do not. */
  | 'invalid_chain'
  /** A PKCS#12 or encrypted key could not be opened with the password given. */
  | 'bad_password'
  /** An argument is out of range (validity window, identifiers, sizes). */
  | 'invalid_argument';

export class PkiError extends Error {
  override readonly name = 'PkiError';

  constructor(
    readonly code: PkiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isPkiError(value: unknown, code?: PkiErrorCode): value is PkiError {
  return value instanceof PkiError && (code === undefined || value.code === code);
}
