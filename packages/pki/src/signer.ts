import { constants, sign as nodeSign, type KeyObject } from 'node:crypto';
import { hashOf, type SignatureAlgorithm } from './algorithms.js';
import { PkiError } from './errors.js';
import { describePublicKey, spkiOf } from './public-key.js';

/**
 * Anything that can sign with a CA or responder key. The key may live in a KMS or
 * HSM, so builders hand over the exact TBS bytes and never touch the key itself.
 */
export interface Signer {
  readonly algorithm: SignatureAlgorithm;
  /** The public half, as SubjectPublicKeyInfo DER; checked against the issuer certificate. */
  readonly publicKeySpkiDer: Buffer;
  /** Signs the whole message; ECDSA signatures come back DER-encoded, as X.509 carries them. */
  sign(tbs: Buffer): Promise<Buffer>;
}

function defaultAlgorithm(key: KeyObject): SignatureAlgorithm {
  const spki = spkiOf(key);
  const algorithm = describePublicKey(spki);
  switch (algorithm.type) {
    case 'ec':
      if (algorithm.curve === 'P-256') return 'ES256';
      if (algorithm.curve === 'P-384') return 'ES384';
      throw new PkiError('unsupported_algorithm', `no signature algorithm for curve ${algorithm.curve}`);
    case 'rsa':
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
  }
}

function algorithmFits(algorithm: SignatureAlgorithm, key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  if (algorithm === 'EdDSA') return type === 'ed25519';
  if (algorithm.startsWith('RS') || algorithm.startsWith('PS')) return type === 'rsa';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return type === 'ec' && (algorithm === 'ES256' ? curve === 'prime256v1' : curve === 'secp384r1');
}

/**
 * A {@link Signer} over a Node private key: the software provider's path, and the
 * one tests use. RSA keys default to RS256; pass `algorithm` for RS384/512 or PSS.
 */
export function keyObjectSigner(
  privateKey: KeyObject,
  options: { algorithm?: SignatureAlgorithm } = {},
): Signer {
  if (privateKey.type !== 'private')
    throw new PkiError('invalid_argument', 'keyObjectSigner needs a private key');
  const algorithm = options.algorithm ?? defaultAlgorithm(privateKey);
  if (!algorithmFits(algorithm, privateKey)) {
    throw new PkiError('invalid_argument', `${algorithm} does not fit a ${privateKey.asymmetricKeyType} key`);
  }
  const publicKeySpkiDer = spkiOf(privateKey);
  const hash = hashOf(algorithm);
  const pss = algorithm.startsWith('PS');
  return {
    algorithm,
    publicKeySpkiDer,
    sign(tbs) {
      return new Promise((resolve, reject) => {
        const key = pss
          ? {
              key: privateKey,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
            }
          : { key: privateKey, dsaEncoding: 'der' as const };
        // The callback form runs on the libuv pool, so RSA signing does not block the loop.
        nodeSign(hash, tbs, key, (error, signature) => (error ? reject(error) : resolve(signature)));
      });
    },
  };
}
