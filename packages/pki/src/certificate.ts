import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  Validity,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  type Extension,
} from '@peculiar/asn1-x509';
import { algorithmIdentifierDer, verifySignature } from './algorithms.js';
import { bitString, children, integer, integerFromContent, readTlv, sequence, slice, tlv } from './der.js';
import { fingerprintSha256, toDer, type DerOrPem } from './encoding.js';
import { PkiError } from './errors.js';
import { encodeExtensions } from './extensions.js';
import { nameToString } from './names.js';
import { describePublicKey, keyIdentifier, type KeyAlgorithm } from './public-key.js';
import type { Signer } from './signer.js';

/** A certificate with the exact DER of the parts that hashes and signatures cover. */
export interface ParsedCertificate {
  readonly der: Buffer;
  readonly asn1: Certificate;
  readonly tbsDer: Buffer;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  readonly spkiDer: Buffer;
  readonly serial: bigint;
}

export function parseCertificate(input: DerOrPem): ParsedCertificate {
  const der = toDer(input, 'CERTIFICATE');
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new RangeError('not a single SEQUENCE');
    const [tbs] = children(der, outer);
    if (!tbs) throw new RangeError('no TBSCertificate');
    const fields = children(der, tbs);
    const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
    const serial = fields[offset];
    const issuer = fields[offset + 2];
    const subject = fields[offset + 4];
    const spki = fields[offset + 5];
    if (!serial || !issuer || !subject || !spki || serial.tag !== 0x02)
      throw new RangeError('TBSCertificate too short');
    return {
      der,
      asn1: AsnConvert.parse(der, Certificate),
      tbsDer: slice(der, tbs),
      issuerDer: slice(der, issuer),
      subjectDer: slice(der, subject),
      spkiDer: slice(der, spki),
      serial: integerFromContent(der.subarray(serial.contentStart, serial.end)),
    };
  } catch (cause) {
    if (cause instanceof PkiError) throw cause;
    throw new PkiError('malformed', 'not an X.509 certificate', { cause });
  }
}

/** `id-ce-subjectAltName` (2.5.29.17) as a DER OBJECT IDENTIFIER. */
const SUBJECT_ALT_NAME_OID_DER = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);

/**
 * The URIs of a certificate's SAN extension. Only the DER around the extensions is walked and only
 * that one extension decoded: an mTLS admission needs nothing else, once per certificate.
 */
export function subjectAltNameUris(input: DerOrPem): string[] {
  const der = toDer(input, 'CERTIFICATE');
  let extnValue: Buffer | undefined;
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new RangeError('not a single SEQUENCE');
    const [tbs] = children(der, outer);
    if (tbs?.tag !== 0x30) throw new RangeError('no TBSCertificate');
    const wrapper = children(der, tbs).find((field) => field.tag === 0xa3);
    const [list] = wrapper ? children(der, wrapper) : [];
    if (wrapper && list?.tag !== 0x30) throw new RangeError('extensions are not a SEQUENCE');
    for (const extension of list ? children(der, list) : []) {
      const parts = children(der, extension);
      const [oid] = parts;
      const value = parts[parts.length - 1];
      if (!oid || value?.tag !== 0x04) throw new RangeError('not an Extension');
      if (slice(der, oid).equals(SUBJECT_ALT_NAME_OID_DER)) {
        extnValue = der.subarray(value.contentStart, value.end);
        break;
      }
    }
  } catch (cause) {
    throw new PkiError('malformed', 'not an X.509 certificate', { cause });
  }
  if (!extnValue) return [];
  const san = AsnConvert.parse(extnValue, SubjectAlternativeName);
  return san.flatMap((n) => (n.uniformResourceIdentifier ? [n.uniformResourceIdentifier] : []));
}

export function findExtension(cert: ParsedCertificate, oid: string): Extension | undefined {
  return cert.asn1.tbsCertificate.extensions?.find((e) => e.extnID === oid);
}

export function parseExtension<T>(cert: ParsedCertificate, oid: string, type: new () => T): T | undefined {
  const ext = findExtension(cert, oid);
  return ext ? AsnConvert.parse(ext.extnValue, type) : undefined;
}

/** The key identifier a child's AKI should carry: the issuer's own SKI, else computed. */
export function issuerKeyIdentifier(issuer: ParsedCertificate): Buffer {
  const ski = parseExtension(issuer, id_ce_subjectKeyIdentifier, SubjectKeyIdentifier);
  return ski ? Buffer.from(ski.buffer) : keyIdentifier(issuer.spkiDer);
}

export function isCa(cert: ParsedCertificate): boolean {
  return parseExtension(cert, id_ce_basicConstraints, BasicConstraints)?.cA === true;
}

export function keyUsageFlags(cert: ParsedCertificate): number | undefined {
  const usage = parseExtension(cert, id_ce_keyUsage, KeyUsage);
  return usage?.toNumber();
}

/**
 * Why a certificate with these facts may not sign for `usage`: it is no CA, or its key usage
 * (when present) lacks the bit. Undefined when it may. Callers word the error for their context.
 */
export function caRefusal(
  isCaCert: boolean,
  keyUsage: number | undefined,
  usage: 'keyCertSign' | 'cRLSign',
): 'not_a_ca' | 'usage' | undefined {
  if (!isCaCert) return 'not_a_ca';
  if (keyUsage !== undefined && (keyUsage & KeyUsageFlags[usage]) === 0) return 'usage';
  return undefined;
}

export function assertSignerMatches(cert: ParsedCertificate, signer: Signer): void {
  if (!cert.spkiDer.equals(signer.publicKeySpkiDer)) {
    throw new PkiError('key_mismatch', 'signer key does not match the certificate');
  }
}

/** True if `parent` names and signed `child`. */
export function isIssuedBy(child: ParsedCertificate, parent: ParsedCertificate): boolean {
  if (!child.issuerDer.equals(parent.subjectDer)) return false;
  return verifySignature(
    child.asn1.signatureAlgorithm,
    parent.spkiDer,
    child.tbsDer,
    new Uint8Array(child.asn1.signatureValue),
  );
}

/** Drops milliseconds: X.509 times have whole seconds, and signed bytes must match what we report. */
export function wholeSeconds(date: Date): Date {
  if (Number.isNaN(date.getTime())) throw new PkiError('invalid_argument', 'invalid date');
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

export function checkValidity(notBefore: Date, notAfter: Date): { notBefore: Date; notAfter: Date } {
  const from = wholeSeconds(notBefore);
  const to = wholeSeconds(notAfter);
  if (to.getTime() <= from.getTime())
    throw new PkiError('invalid_argument', 'notAfter must be after notBefore');
  return { notBefore: from, notAfter: to };
}

export function checkSerial(serial: bigint): bigint {
  // RFC 5280 §4.1.2.2: positive, at most 20 octets.
  if (serial <= 0n || serial >= 1n << 159n)
    throw new PkiError('invalid_argument', 'serial must be positive and at most 20 octets');
  return serial;
}

export interface TbsCertificateParts {
  readonly serial: bigint;
  readonly signer: Signer;
  readonly issuerDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectDer: Buffer;
  readonly spkiDer: Buffer;
  readonly extensions: readonly Extension[];
}

/**
 * Builds the TBSCertificate from DER parts, so the issuer Name is copied byte for
 * byte from the issuer certificate, then has the signer sign exactly those bytes.
 */
export async function signCertificate(parts: TbsCertificateParts): Promise<Buffer> {
  const algorithm = algorithmIdentifierDer(parts.signer.algorithm);
  const validity = Buffer.from(
    AsnConvert.serialize(new Validity({ notBefore: parts.notBefore, notAfter: parts.notAfter })),
  );
  const tbs = sequence(
    tlv(0xa0, integer(2n)),
    integer(checkSerial(parts.serial)),
    algorithm,
    parts.issuerDer,
    validity,
    parts.subjectDer,
    parts.spkiDer,
    tlv(0xa3, sequence(encodeExtensions(parts.extensions))),
  );
  const signature = await parts.signer.sign(tbs);
  return sequence(tbs, algorithm, bitString(signature));
}

/** What the server needs to know about a certificate, without ASN.1 in sight. */
export interface CertificateInfo {
  readonly serial: bigint;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly fingerprintSha256: string;
  readonly publicKeySpkiDer: Buffer;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly subjectKeyIdentifier?: Buffer;
  readonly authorityKeyIdentifier?: Buffer;
  readonly sans: { readonly uris: string[]; readonly dns: string[]; readonly ips: string[] };
  /** Extended key usage OIDs, empty when the extension is absent. */
  readonly extendedKeyUsage: string[];
}

export function inspectCertificate(input: DerOrPem): CertificateInfo {
  const cert = parseCertificate(input);
  const validity = cert.asn1.tbsCertificate.validity;
  const ski = parseExtension(cert, id_ce_subjectKeyIdentifier, SubjectKeyIdentifier);
  const aki = parseExtension(cert, id_ce_authorityKeyIdentifier, AuthorityKeyIdentifier);
  const san = parseExtension(cert, id_ce_subjectAltName, SubjectAlternativeName) ?? [];
  const eku = parseExtension(cert, id_ce_extKeyUsage, ExtendedKeyUsage) ?? [];
  return {
    serial: cert.serial,
    subject: nameToString(cert.subjectDer),
    issuer: nameToString(cert.issuerDer),
    notBefore: validity.notBefore.getTime(),
    notAfter: validity.notAfter.getTime(),
    isCa: isCa(cert),
    fingerprintSha256: fingerprintSha256(cert.der),
    publicKeySpkiDer: cert.spkiDer,
    keyAlgorithm: describePublicKey(cert.spkiDer),
    ...(ski ? { subjectKeyIdentifier: Buffer.from(ski.buffer) } : {}),
    ...(aki?.keyIdentifier ? { authorityKeyIdentifier: Buffer.from(aki.keyIdentifier.buffer) } : {}),
    sans: {
      uris: san.flatMap((n) => (n.uniformResourceIdentifier ? [n.uniformResourceIdentifier] : [])),
      dns: san.flatMap((n) => (n.dNSName ? [n.dNSName] : [])),
      ips: san.flatMap((n) => (n.iPAddress ? [n.iPAddress] : [])),
    },
    extendedKeyUsage: [...eku],
  };
}
