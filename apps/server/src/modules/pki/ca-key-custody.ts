import type { KeyObject } from 'node:crypto';
import {
  SOFTWARE_SIGNING_KEY_AAD,
  type CryptoProvider,
  type KeyProtector,
  type SignatureAlgorithm as ProviderAlgorithm,
  type SigningKeySpec,
} from '@ampora/keys';
import { PkiError, describePublicKey, type KeyAlgorithm, type Signer } from '@ampora/pki';

/** Key types Ampora generates for its CA. */
export type CaKeyAlgorithm = 'ecdsa-p256' | 'rsa-3072';

const GENERATED: Record<CaKeyAlgorithm, { spec: SigningKeySpec; algorithm: ProviderAlgorithm }> = {
  'ecdsa-p256': { spec: { kty: 'EC', curve: 'P-256' }, algorithm: 'ecdsa-sha256' },
  'rsa-3072': { spec: { kty: 'RSA', bits: 3072 }, algorithm: 'rsa-pkcs1-sha256' },
};

/** Provider algorithm names → the X.509 (JOSE-style) names `@ampora/pki` signs with. */
const X509_ALGORITHM: Partial<Record<ProviderAlgorithm, Signer['algorithm']>> = {
  'ecdsa-sha256': 'ES256',
  'ecdsa-sha384': 'ES384',
  'rsa-pkcs1-sha256': 'RS256',
  'rsa-pkcs1-sha384': 'RS384',
  'rsa-pkcs1-sha512': 'RS512',
  'rsa-pss-sha256': 'PS256',
  'rsa-pss-sha384': 'PS384',
  'rsa-pss-sha512': 'PS512',
};

/** `ecdsa-p256`, `rsa-3072`, … from a public key. */
export function keySpecName(algorithm: KeyAlgorithm): string {
  if (algorithm.type === 'ec') return `ecdsa-${algorithm.curve.toLowerCase().replace('-', '')}`;
  if (algorithm.type === 'rsa') return `rsa-${algorithm.bits}`;
  return 'ed25519';
}

/** The signature algorithm an imported key signs with; what the software provider cannot do is refused. */
function importedAlgorithm(algorithm: KeyAlgorithm): ProviderAlgorithm {
  if (algorithm.type === 'rsa') return 'rsa-pkcs1-sha256';
  if (algorithm.type === 'ec' && algorithm.curve === 'P-256') return 'ecdsa-sha256';
  if (algorithm.type === 'ec' && algorithm.curve === 'P-384') return 'ecdsa-sha384';
  throw new PkiError('unsupported_algorithm', `a ${keySpecName(algorithm)} CA key cannot be imported`);
}

/** What a stored key row holds about its key. */
export interface StoredKey {
  /** Sealed with `aad`; opens to the provider's own key reference. */
  keyRef: string;
  provider: string;
  algorithm: string;
  /** Where the sealed reference lives, e.g. `ca_signing_keys:key_ref:<id>`. */
  aad: string;
  publicKeySpkiDer: Buffer;
}

export interface NewKey {
  keyRef: string;
  provider: string;
  algorithm: ProviderAlgorithm;
  keySpec: string;
  publicKeySpkiDer: Buffer;
}

export interface KeyCustodyDeps {
  keys: Pick<KeyProtector, 'sealToString' | 'openToString'>;
  /** Generates and holds new CA and responder keys. */
  provider: CryptoProvider;
  /** Holds imported keys (their private key is known, so it is sealed rather than held by a KMS). */
  software: CryptoProvider;
}

/**
 * The one place that touches key references. Signing goes through a {@link CryptoProvider}, so a
 * KMS or HSM provider can hold CA keys without changes here. Whatever the provider returns as a
 * key reference is sealed once more with an AAD naming its row: a reference moved to another row
 * (or another column) no longer opens.
 */
export function createKeyCustody(deps: KeyCustodyDeps) {
  const providers = new Map<string, CryptoProvider>([
    [deps.software.kind, deps.software],
    [deps.provider.kind, deps.provider],
  ]);
  // Opened provider references, by row; a software reference is still sealed, so nothing
  // plaintext is kept in memory beyond a signature's duration.
  const opened = new Map<string, { sealed: string; ref: string }>();

  function providerOf(kind: string): CryptoProvider {
    const provider = providers.get(kind);
    if (!provider) throw new Error(`crypto provider ${kind} is not configured`);
    return provider;
  }

  async function providerRef(key: StoredKey): Promise<string> {
    const cached = opened.get(key.aad);
    if (cached?.sealed === key.keyRef) return cached.ref;
    const ref = await deps.keys.openToString(key.keyRef, key.aad);
    opened.set(key.aad, { sealed: key.keyRef, ref });
    return ref;
  }

  return {
    async generate(algorithm: CaKeyAlgorithm, aad: string): Promise<NewKey> {
      const { spec, algorithm: signing } = GENERATED[algorithm];
      const generated = await deps.provider.generateSigningKey(spec);
      return {
        keyRef: await deps.keys.sealToString(generated.keyRef, aad),
        provider: deps.provider.kind,
        algorithm: signing,
        keySpec: algorithm,
        publicKeySpkiDer: generated.publicKeySpkiDer,
      };
    },

    /** Seals an imported private key for the software provider, then binds it to its row. */
    async importPrivateKey(privateKey: KeyObject, publicKeySpkiDer: Buffer, aad: string): Promise<NewKey> {
      const described = describePublicKey(publicKeySpkiDer);
      const algorithm = importedAlgorithm(described);
      const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
      try {
        const softwareRef = await deps.keys.sealToString(pkcs8, SOFTWARE_SIGNING_KEY_AAD);
        return {
          keyRef: await deps.keys.sealToString(softwareRef, aad),
          provider: deps.software.kind,
          algorithm,
          keySpec: keySpecName(described),
          publicKeySpkiDer,
        };
      } finally {
        pkcs8.fill(0);
      }
    },

    /** A pki {@link Signer} over a stored key; the reference is opened on first use. */
    signer(key: StoredKey): Signer {
      const provider = providerOf(key.provider);
      const algorithm = key.algorithm as ProviderAlgorithm;
      const x509 = X509_ALGORITHM[algorithm];
      if (!x509) throw new PkiError('unsupported_algorithm', `cannot sign with ${key.algorithm}`);
      return {
        algorithm: x509,
        publicKeySpkiDer: key.publicKeySpkiDer,
        sign: async (tbs) => provider.sign(await providerRef(key), algorithm, tbs),
      };
    },

    /** Forgets opened references, e.g. after a key is retired. */
    forget(aad: string) {
      opened.delete(aad);
    },
  };
}

export type KeyCustody = ReturnType<typeof createKeyCustody>;
