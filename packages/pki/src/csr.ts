import { AsnConvert } from '@peculiar/asn1-schema';
import { Attributes } from '@peculiar/asn1-csr';
import {
  AlgorithmIdentifier,
  Extensions,
  SubjectAlternativeName,
  id_ce_subjectAltName,
} from '@peculiar/asn1-x509';
import { verifySignature } from './algorithms.js';
import { children, readTlv, slice, type Tlv } from './der.js';
import { toDer, type DerOrPem } from './encoding.js';
import { PkiError } from './errors.js';
import { decodeName, type DecodedName } from './names.js';
import { assertAcceptableKey, publicKeyFromSpki, type KeyAlgorithm } from './public-key.js';

/** PKCS#9 extensionRequest: the CSR attribute that carries the requested extensions. */
export const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const INSTANCE_UID_URI_PREFIX = 'urn:opamp:instance-uid:';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A CSR is a few hundred bytes; anything this large is not one of ours. */
const MAX_CSR_BYTES = 64 * 1024;

export interface VerifiedCsr {
  /** Text form of the requested subject, e.g. `CN=agent, O=Acme`. */
  readonly subject: string;
  readonly subjectDer: Buffer;
  readonly publicKeySpkiDer: Buffer;
  readonly keyAlgorithm: KeyAlgorithm;
  /** OID of the algorithm the CSR was signed with. */
  readonly signatureAlgorithmOid: string;
  /** Lowercase UUID text, when the CSR names its instance (see {@link parseAndVerifyCsr}). */
  readonly instanceUid?: string;
  /** SANs the requester asked for; advisory only, the issuer decides what goes in. */
  readonly requestedSans: { readonly uris: string[]; readonly dns: string[]; readonly ips: string[] };
}

/** The SAN URI an agent puts in its CSR to name its instance_uid. */
export function instanceUidUri(instanceUid: string): string {
  if (!UUID.test(instanceUid)) throw new PkiError('invalid_argument', 'instance_uid must be a UUID');
  return `${INSTANCE_UID_URI_PREFIX}${instanceUid.toLowerCase()}`;
}

/** The SANs in the request's extensionRequest attribute, if any. */
function requestedSans(attributes: Attributes): SubjectAlternativeName {
  const attribute = attributes.find((a) => a.type === EXTENSION_REQUEST);
  const value = attribute?.values[0];
  if (!value) return new SubjectAlternativeName();
  const extension = AsnConvert.parse(value, Extensions).find((e) => e.extnID === id_ce_subjectAltName);
  return extension
    ? AsnConvert.parse(extension.extnValue, SubjectAlternativeName)
    : new SubjectAlternativeName();
}

/**
 * `attributes [0] IMPLICIT SET OF Attribute`, retagged for the schema class, which (like the
 * library's own CertificationRequestInfo) declares it as a SEQUENCE: the items decode the same.
 */
function attributesOf(der: Buffer, tlv: Tlv | undefined): Attributes {
  if (!tlv || tlv.contentStart === tlv.end) return new Attributes();
  if (tlv.tag !== 0xa0) throw new RangeError('CertificationRequestInfo: unexpected element');
  const retagged = Buffer.from(slice(der, tlv));
  retagged[0] = 0x30;
  return AsnConvert.parse(retagged, Attributes);
}

/**
 * The instance_uid a CSR carries, by our convention, in order of preference:
 * a SAN URI `urn:opamp:instance-uid:<uuid>`, the subject `UID` attribute, or a
 * subject CN that is exactly a UUID. Where several are present they must agree.
 */
function instanceUidOf(uris: readonly string[], subject: DecodedName): string | undefined {
  const candidates: string[] = [];
  for (const uri of uris) {
    if (!uri.toLowerCase().startsWith(INSTANCE_UID_URI_PREFIX)) continue;
    const uid = uri.slice(INSTANCE_UID_URI_PREFIX.length);
    if (!UUID.test(uid)) throw new PkiError('malformed', 'instance-uid SAN URI does not hold a UUID');
    candidates.push(uid.toLowerCase());
  }
  for (const uid of subject.getField('UID')) {
    if (!UUID.test(uid)) throw new PkiError('malformed', 'subject UID is not a UUID');
    candidates.push(uid.toLowerCase());
  }
  for (const cn of subject.getField('CN')) {
    if (UUID.test(cn)) candidates.push(cn.toLowerCase());
  }
  const distinct = new Set(candidates);
  if (distinct.size > 1) throw new PkiError('malformed', 'CSR names more than one instance_uid');
  return candidates[0];
}

/**
 * Parses a PKCS#10 request (PEM `CERTIFICATE REQUEST` or DER), verifies its
 * self-signature and applies the key policy (RSA ≥ 2048, ECDSA P-256/P-384).
 * Throws {@link PkiError}: `malformed`, `bad_signature`, `weak_key`, `unsupported_algorithm`.
 */
export function parseAndVerifyCsr(input: DerOrPem): VerifiedCsr {
  const der = toDer(input, 'CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST');
  if (der.length > MAX_CSR_BYTES) throw new PkiError('malformed', 'CSR is too large');
  // The request is read straight from its DER: the signature covers the exact bytes of the
  // CertificationRequestInfo, and only the small pieces that need a schema go through one.
  let infoDer: Buffer;
  let subjectDer: Buffer;
  let spkiDer: Buffer;
  let signatureAlgorithm: AlgorithmIdentifier;
  let signature: Buffer;
  let attributes: Tlv | undefined;
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new RangeError('not a single SEQUENCE');
    const parts = children(der, outer);
    const [info, algorithm, bits] = parts;
    if (parts.length !== 3 || info?.tag !== 0x30 || algorithm?.tag !== 0x30 || bits?.tag !== 0x03)
      throw new RangeError('not a CertificationRequest');
    const fields = children(der, info);
    const [version, subject, spki] = fields;
    if (version?.tag !== 0x02 || subject?.tag !== 0x30 || spki?.tag !== 0x30 || fields.length > 4)
      throw new RangeError('not a CertificationRequestInfo');
    attributes = fields[3];
    infoDer = slice(der, info);
    subjectDer = slice(der, subject);
    spkiDer = slice(der, spki);
    signatureAlgorithm = AsnConvert.parse(slice(der, algorithm), AlgorithmIdentifier);
    // A BIT STRING's first content byte counts unused bits; a signature has none.
    if (bits.end - bits.contentStart < 2 || der[bits.contentStart] !== 0)
      throw new RangeError('signature is not a whole number of bytes');
    signature = der.subarray(bits.contentStart + 1, bits.end);
  } catch (cause) {
    throw new PkiError('malformed', 'not a PKCS#10 certification request', { cause });
  }
  const publicKey = publicKeyFromSpki(spkiDer);
  const valid = verifySignature(signatureAlgorithm, publicKey, infoDer, signature);
  if (!valid) throw new PkiError('bad_signature', 'CSR signature does not verify');
  const keyAlgorithm = assertAcceptableKey(publicKey);

  let sans: SubjectAlternativeName;
  try {
    sans = requestedSans(attributesOf(der, attributes));
  } catch (cause) {
    throw new PkiError('malformed', 'CSR extension request cannot be parsed', { cause });
  }
  const uris = sans.flatMap((n) => (n.uniformResourceIdentifier ? [n.uniformResourceIdentifier] : []));
  const subject = decodeName(subjectDer);
  const instanceUid = instanceUidOf(uris, subject);
  return {
    subject: subject.toString(),
    subjectDer,
    publicKeySpkiDer: spkiDer,
    keyAlgorithm,
    signatureAlgorithmOid: signatureAlgorithm.algorithm,
    ...(instanceUid ? { instanceUid } : {}),
    requestedSans: {
      uris,
      dns: sans.flatMap((n) => (n.dNSName ? [n.dNSName] : [])),
      ips: sans.flatMap((n) => (n.iPAddress ? [n.iPAddress] : [])),
    },
  };
}
