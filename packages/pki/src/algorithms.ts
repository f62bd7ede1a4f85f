import { KeyObject, constants, verify as nodeVerify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { children, readTlv, tlv, sequence, integer, integerFromContent } from './der.js';
import { PkiError } from './errors.js';
import { publicKeyFromSpki } from './public-key.js';

/** Signature algorithms a {@link Signer} may use, named as in JOSE. */
export type SignatureAlgorithm =
  'ES256' | 'ES384' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA';

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const HASH_OIDS: Readonly<Record<HashName, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

const HASH_LENGTH: Readonly<Record<HashName, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export function hashNameFromOid(oid: string): HashName | undefined {
  return (Object.keys(HASH_OIDS) as HashName[]).find((name) => HASH_OIDS[name] === oid);
}

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const MGF1 = '1.2.840.113549.1.1.8';
const ED25519 = '1.3.101.112';

/** PKCS#1 v1.5 and ECDSA OIDs, with the hash each implies. SHA-1 is deliberately absent. */
const SIMPLE_OIDS: Readonly<Record<string, { family: 'rsa' | 'ec'; hash: HashName }>> = {
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'sha512' },
  '1.2.840.10045.4.3.2': { family: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { family: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { family: 'ec', hash: 'sha512' },
};

/** The hash each algorithm signs with (`null`: Ed25519 hashes internally). */
export function hashOf(algorithm: SignatureAlgorithm): HashName | null {
  if (algorithm === 'EdDSA') return null;
  return `sha${algorithm.slice(2)}` as HashName;
}

function hashAlgorithmDer(hash: HashName): Buffer {
  return Buffer.from(
    AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: HASH_OIDS[hash], parameters: null })),
  );
}

/** RSASSA-PSS-params with MGF1 over the same hash and a salt as long as the digest (RFC 4055). */
function pssParams(hash: HashName): ArrayBuffer {
  const mgf = Buffer.from(
    AsnConvert.serialize(
      new AlgorithmIdentifier({ algorithm: MGF1, parameters: new Uint8Array(hashAlgorithmDer(hash)).buffer }),
    ),
  );
  const der = sequence(
    tlv(0xa0, hashAlgorithmDer(hash)),
    tlv(0xa1, mgf),
    tlv(0xa2, integer(BigInt(HASH_LENGTH[hash]))),
  );
  return new Uint8Array(der).buffer;
}

/** The AlgorithmIdentifier that goes into TBS structures and signed envelopes. */
export function algorithmIdentifier(algorithm: SignatureAlgorithm): AlgorithmIdentifier {
  switch (algorithm) {
    case 'ES256':
      return new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
    case 'ES384':
      return new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.3' });
    // RFC 4055: the PKCS#1 v1.5 identifiers carry an explicit NULL.
    case 'RS256':
      return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null });
    case 'RS384':
      return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.12', parameters: null });
    case 'RS512':
      return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.13', parameters: null });
    case 'PS256':
    case 'PS384':
    case 'PS512':
      return new AlgorithmIdentifier({ algorithm: RSASSA_PSS, parameters: pssParams(hashOf(algorithm)!) });
    case 'EdDSA':
      return new AlgorithmIdentifier({ algorithm: ED25519 });
  }
}

export function algorithmIdentifierDer(algorithm: SignatureAlgorithm): Buffer {
  return Buffer.from(AsnConvert.serialize(algorithmIdentifier(algorithm)));
}

interface VerifyPlan {
  readonly family: 'rsa' | 'ec' | 'ed25519' | 'rsa-pss';
  readonly hash: HashName | null;
  readonly saltLength?: number;
}

function readPssParams(params: ArrayBuffer | null | undefined): VerifyPlan {
  // Absent parameters mean SHA-1 defaults, which we do not accept.
  if (!params) throw new PkiError('unsupported_algorithm', 'RSASSA-PSS with SHA-1 defaults is not accepted');
  const buf = Buffer.from(params);
  let hash: HashName | undefined;
  let mgfHash: HashName | undefined;
  let saltLength = 20;
  for (const field of children(buf, readTlv(buf, 0))) {
    const inner = readTlv(buf, field.contentStart);
    const innerBytes = buf.subarray(inner.start, inner.end);
    if (field.tag === 0xa0) {
      hash = hashNameFromOid(AsnConvert.parse(innerBytes, AlgorithmIdentifier).algorithm);
    } else if (field.tag === 0xa1) {
      const mgf = AsnConvert.parse(innerBytes, AlgorithmIdentifier);
      if (mgf.algorithm !== MGF1 || !mgf.parameters)
        throw new PkiError('unsupported_algorithm', 'unsupported PSS mask');
      mgfHash = hashNameFromOid(AsnConvert.parse(mgf.parameters, AlgorithmIdentifier).algorithm);
    } else if (field.tag === 0xa2) {
      saltLength = Number(integerFromContent(buf.subarray(inner.contentStart, inner.end)));
    }
  }
  if (!hash || hash === 'sha1' || hash !== mgfHash) {
    throw new PkiError('unsupported_algorithm', 'unsupported RSASSA-PSS hash parameters');
  }
  return { family: 'rsa-pss', hash, saltLength };
}

function planFor(algorithm: AlgorithmIdentifier): VerifyPlan {
  if (algorithm.algorithm === ED25519) return { family: 'ed25519', hash: null };
  if (algorithm.algorithm === RSASSA_PSS) return readPssParams(algorithm.parameters);
  const simple = SIMPLE_OIDS[algorithm.algorithm];
  if (!simple)
    throw new PkiError('unsupported_algorithm', `signature algorithm ${algorithm.algorithm} is not accepted`);
  return simple;
}

/**
 * Verifies an X.509-style signature (DER for ECDSA) over `data`. Returns false for a
 * wrong signature or a key of the wrong family; throws only for algorithms we refuse.
 */
export function verifySignature(
  algorithm: AlgorithmIdentifier,
  publicKey: Uint8Array | KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  const plan = planFor(algorithm);
  const key = publicKey instanceof KeyObject ? publicKey : publicKeyFromSpki(publicKey);
  const keyType = key.asymmetricKeyType;
  const familyMatches =
    plan.family === 'rsa-pss' ? keyType === 'rsa' || keyType === 'rsa-pss' : keyType === plan.family;
  if (!familyMatches) return false;
  try {
    if (plan.family === 'rsa-pss') {
      return nodeVerify(
        plan.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: plan.saltLength! },
        signature,
      );
    }
    return nodeVerify(plan.hash, data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}
