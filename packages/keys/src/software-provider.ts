import { constants, createPrivateKey, createPublicKey, generateKeyPair, sign as nodeSign } from 'node:crypto';
import type { KeyObject, SignKeyObjectInput } from 'node:crypto';
import { promisify } from 'node:util';
import type { CryptoProvider, SignatureAlgorithm, SigningKeySpec } from './crypto-provider';
import { CryptoProviderError } from './errors';
import type { KeyProtector } from './key-protector';
import { MASTER_KEY_SETTING, assertMasterKey, createMasterKeyWrapper } from './master-key';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The callback form runs on the libuv pool, so an RSA signature does not block the event loop. */
function signAsync(hash: string, data: Uint8Array, key: SignKeyObjectInput): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodeSign(hash, data, key, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

/**
 * AAD of a software signing key. It is fixed rather than tied to a row, because the key is sealed
 * before the caller has a row for it; it still keeps any other sealed secret from passing as a key.
 * A rewrap of stored key references must use it.
 */
export const SOFTWARE_SIGNING_KEY_AAD = 'ampora:software-provider:signing-key';

export interface SoftwareProviderOptions {
  /** The current master key; data keys given to `wrapKey` are wrapped under it. */
  readonly master: Uint8Array;
  /** Seals the generated private keys; `keyRef` is its `amp:v1:…` text form. */
  readonly protector: Pick<KeyProtector, 'sealToString' | 'open'>;
}

interface AlgorithmParams {
  readonly family: 'ec' | 'rsa';
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly pss: boolean;
}

const ALGORITHMS: Record<SignatureAlgorithm, AlgorithmParams> = {
  'ecdsa-sha256': { family: 'ec', hash: 'sha256', pss: false },
  'ecdsa-sha384': { family: 'ec', hash: 'sha384', pss: false },
  'ecdsa-sha512': { family: 'ec', hash: 'sha512', pss: false },
  'rsa-pkcs1-sha256': { family: 'rsa', hash: 'sha256', pss: false },
  'rsa-pkcs1-sha384': { family: 'rsa', hash: 'sha384', pss: false },
  'rsa-pkcs1-sha512': { family: 'rsa', hash: 'sha512', pss: false },
  'rsa-pss-sha256': { family: 'rsa', hash: 'sha256', pss: true },
  'rsa-pss-sha384': { family: 'rsa', hash: 'sha384', pss: true },
  'rsa-pss-sha512': { family: 'rsa', hash: 'sha512', pss: true },
};

const HASH_BYTES = { sha256: 32, sha384: 48, sha512: 64 } as const;
/** Signing keys kept open at once: an installation has a handful (Active, Trusted, OCSP, audit). */
const MAX_OPENED_KEYS = 32;

async function generate(spec: SigningKeySpec): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (spec.kty === 'EC' && (spec.curve === 'P-256' || spec.curve === 'P-384')) {
    return generateKeyPairAsync('ec', { namedCurve: spec.curve });
  }
  if (spec.kty === 'RSA' && [2048, 3072, 4096].includes(spec.bits)) {
    return generateKeyPairAsync('rsa', { modulusLength: spec.bits, publicExponent: 0x10001 });
  }
  throw new CryptoProviderError('unsupported_key_spec');
}

/**
 * Keys generated and used in this process with Node's crypto. The private key leaves only as
 * PKCS#8 DER sealed by the key protector, so the caller can keep it in Postgres.
 */
export function createSoftwareProvider(options: SoftwareProviderOptions): CryptoProvider {
  assertMasterKey(options.master, MASTER_KEY_SETTING);
  const wrapper = createMasterKeyWrapper(options.master);
  const { protector } = options;

  // Opened signing keys, by sealed reference. Unsealing costs an AES-GCM open and a PKCS#8 parse
  // on every signature otherwise; a KeyObject keeps the key in OpenSSL's memory, where it sits
  // during every signature anyway. A rewrap changes the reference, so stale entries age out.
  const opened = new Map<string, KeyObject>();

  async function privateKeyOf(keyRef: string): Promise<KeyObject> {
    const cached = opened.get(keyRef);
    if (cached) return cached;
    const der = await protector.open(keyRef, SOFTWARE_SIGNING_KEY_AAD);
    try {
      const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      if (opened.size >= MAX_OPENED_KEYS) opened.delete(opened.keys().next().value!);
      opened.set(keyRef, key);
      return key;
    } finally {
      der.fill(0);
    }
  }

  return {
    id: 'software',
    kind: 'software',
    wrappingKeyId: wrapper.wrappingKeyId,
    wrapKey: wrapper.wrapKey,
    unwrapKey: wrapper.unwrapKey,
    async generateSigningKey(spec) {
      const { privateKey, publicKey } = await generate(spec);
      const der = privateKey.export({ format: 'der', type: 'pkcs8' });
      try {
        const keyRef = await protector.sealToString(der, SOFTWARE_SIGNING_KEY_AAD);
        return { keyRef, publicKeySpkiDer: publicKey.export({ format: 'der', type: 'spki' }) };
      } finally {
        der.fill(0);
      }
    },
    async sign(keyRef, algorithm, data) {
      const params = Object.hasOwn(ALGORITHMS, algorithm) ? ALGORITHMS[algorithm] : undefined;
      if (params === undefined) throw new CryptoProviderError('unsupported_algorithm');
      const key = await privateKeyOf(keyRef);
      if (key.asymmetricKeyType !== params.family) throw new CryptoProviderError('algorithm_key_mismatch');
      if (params.family === 'ec') return signAsync(params.hash, data, { key, dsaEncoding: 'der' });
      if (params.pss) {
        // X.509 and every KMS use a salt as long as the digest.
        return signAsync(params.hash, data, {
          key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: HASH_BYTES[params.hash],
        });
      }
      return signAsync(params.hash, data, { key, padding: constants.RSA_PKCS1_PADDING });
    },
    async publicKey(keyRef) {
      return createPublicKey(await privateKeyOf(keyRef)).export({ format: 'der', type: 'spki' });
    },
  };
}
