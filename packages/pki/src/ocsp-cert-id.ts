import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CertID } from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { HASH_OIDS, hashNameFromOid, type HashName } from './algorithms.js';
import { parseCertificate } from './certificate.js';
import { integerContent, integerFromContent } from './der.js';
import type { DerOrPem } from './encoding.js';

/** An OCSP CertID (RFC 6960 §4.1.1) in plain values. */
export interface OcspCertId {
  /** `null` when the request used a hash we do not compute; such an ID matches no issuer. */
  readonly hashAlgorithm: HashName | null;
  readonly hashAlgorithmOid: string;
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  readonly serial: bigint;
}

interface IssuerHashes {
  readonly nameHash: Buffer;
  readonly keyHash: Buffer;
}

/** The issuer's name and key hashes under each algorithm, computed when first asked for. */
function issuerHashes(issuerCert: DerOrPem): (hash: HashName) => IssuerHashes {
  const issuer = parseCertificate(issuerCert);
  const keyBits = Buffer.from(AsnConvert.parse(issuer.spkiDer, SubjectPublicKeyInfo).subjectPublicKey);
  const byHash = new Map<HashName, IssuerHashes>();
  return (hash) => {
    let hashes = byHash.get(hash);
    if (!hashes) {
      hashes = {
        // The hash covers the DER of the issuer's subject exactly as it appears in its certificate.
        nameHash: createHash(hash).update(issuer.subjectDer).digest(),
        keyHash: createHash(hash).update(keyBits).digest(),
      };
      byHash.set(hash, hashes);
    }
    return hashes;
  };
}

/**
 * Whether a CertID's name and key hashes (SHA-1, SHA-256, …) are those of `issuerCert`. The
 * certificate is parsed once here, and each hash computed once: keep the matcher for as long as
 * the issuer is, rather than hashing it again for every CertID.
 */
export function issuerMatcher(issuerCert: DerOrPem): (certId: OcspCertId) => boolean {
  const hashesFor = issuerHashes(issuerCert);
  return (certId) => {
    if (!certId.hashAlgorithm) return false;
    const { nameHash, keyHash } = hashesFor(certId.hashAlgorithm);
    return nameHash.equals(certId.issuerNameHash) && keyHash.equals(certId.issuerKeyHash);
  };
}

/** True when the CertID's name and key hashes are those of `issuerCert` (SHA-1, SHA-256, …). */
export function matchesIssuer(certId: OcspCertId, issuerCert: DerOrPem): boolean {
  return certId.hashAlgorithm !== null && issuerMatcher(issuerCert)(certId);
}

/** The CertID a client would send for `serial` under `issuerCert`. */
export function certIdFor(
  issuerCert: DerOrPem,
  serial: bigint,
  hashAlgorithm: HashName = 'sha1',
): OcspCertId {
  const { nameHash, keyHash } = issuerHashes(issuerCert)(hashAlgorithm);
  return {
    hashAlgorithm,
    hashAlgorithmOid: HASH_OIDS[hashAlgorithm],
    issuerNameHash: nameHash,
    issuerKeyHash: keyHash,
    serial,
  };
}

export function certIdFromAsn1(certId: CertID): OcspCertId {
  const oid = certId.hashAlgorithm.algorithm;
  return {
    hashAlgorithm: hashNameFromOid(oid) ?? null,
    hashAlgorithmOid: oid,
    issuerNameHash: Buffer.from(certId.issuerNameHash.buffer),
    issuerKeyHash: Buffer.from(certId.issuerKeyHash.buffer),
    serial: integerFromContent(new Uint8Array(certId.serialNumber)),
  };
}

export function certIdToAsn1(certId: OcspCertId): CertID {
  return new CertID({
    // Hash identifiers carry NULL parameters, as clients (openssl included) send them.
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: certId.hashAlgorithmOid, parameters: null }),
    issuerNameHash: new OctetString(certId.issuerNameHash),
    issuerKeyHash: new OctetString(certId.issuerKeyHash),
    serialNumber: new Uint8Array(integerContent(certId.serial)).buffer,
  });
}
