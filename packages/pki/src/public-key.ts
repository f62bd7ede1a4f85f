import { KeyObject, createHash, createPublicKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { PkiError } from './errors.js';

/** What a public key is, in the terms the key policy speaks. */
export type KeyAlgorithm =
  | { readonly type: 'ec'; readonly curve: string }
  | { readonly type: 'rsa'; readonly bits: number }
  | { readonly type: 'ed25519' };

const CURVE_NAMES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

export function publicKeyFromSpki(spkiDer: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new PkiError('malformed', 'public key cannot be read', { cause });
  }
}

export function spkiOf(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'der' });
}

export function describePublicKey(publicKey: Uint8Array | KeyObject): KeyAlgorithm {
  const key = publicKey instanceof KeyObject ? publicKey : publicKeyFromSpki(publicKey);
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const named = details.namedCurve ?? 'unknown';
      return { type: 'ec', curve: CURVE_NAMES[named] ?? named };
    }
    case 'rsa':
    case 'rsa-pss':
      return { type: 'rsa', bits: details.modulusLength ?? 0 };
    case 'ed25519':
      return { type: 'ed25519' };
    default:
      throw new PkiError(
        'unsupported_algorithm',
        `key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted`,
      );
  }
}

/** Largest RSA modulus accepted: bigger keys only cost verification time. */
const MAX_RSA_BITS = 8192;

/**
 * The key policy for certificates we issue and CAs we import: RSA 2048–8192 bits or
 * ECDSA on P-256/P-384. Ed25519 is allowed only when `allowEd25519` is set (CA keys
 * held by Vault Transit), because agent TLS stacks do not reliably support it.
 */
export function assertAcceptableKey(
  publicKey: Uint8Array | KeyObject,
  options: { allowEd25519?: boolean } = {},
): KeyAlgorithm {
  const algorithm = describePublicKey(publicKey);
  if (algorithm.type === 'rsa' && (algorithm.bits < 2048 || algorithm.bits > MAX_RSA_BITS)) {
    throw new PkiError(
      'weak_key',
      `RSA key of ${algorithm.bits} bits is not accepted (2048–${MAX_RSA_BITS})`,
    );
  }
  if (algorithm.type === 'ec' && algorithm.curve !== 'P-256' && algorithm.curve !== 'P-384') {
    throw new PkiError('weak_key', `elliptic curve ${algorithm.curve} is not accepted (P-256 or P-384)`);
  }
  if (algorithm.type === 'ed25519' && !options.allowEd25519) {
    throw new PkiError('weak_key', 'Ed25519 keys are not accepted here');
  }
  return algorithm;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spkiDer: Uint8Array): Buffer {
  let info: SubjectPublicKeyInfo;
  try {
    info = AsnConvert.parse(Buffer.from(spkiDer), SubjectPublicKeyInfo);
  } catch (cause) {
    throw new PkiError('malformed', 'SubjectPublicKeyInfo cannot be parsed', { cause });
  }
  return createHash('sha1').update(Buffer.from(info.subjectPublicKey)).digest();
}
