import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_cRLNumber,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_OCSPSigning,
  id_kp_clientAuth,
  id_kp_serverAuth,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509';
import { integer } from './der.js';
import { PkiError } from './errors.js';

export const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const OID_AD_CA_ISSUERS = '1.3.6.1.5.5.7.48.2';

export type ExtendedKeyUsageName = 'clientAuth' | 'serverAuth' | 'ocspSigning';

export const EKU_OIDS: Readonly<Record<ExtendedKeyUsageName, string>> = {
  clientAuth: id_kp_clientAuth,
  serverAuth: id_kp_serverAuth,
  ocspSigning: id_kp_OCSPSigning,
};

/** Subject alternative names a leaf may carry. */
export interface SubjectAltNames {
  readonly uris?: readonly string[];
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
}

export type KeyUsageName = keyof typeof KeyUsageFlags;

function extension(extnID: string, critical: boolean, value: ArrayBuffer | Buffer): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(value) });
}

export function basicConstraints(ca: boolean, pathLen?: number): Extension {
  if (pathLen !== undefined && (!Number.isInteger(pathLen) || pathLen < 0)) {
    throw new PkiError('invalid_argument', 'pathLen must be a non-negative integer');
  }
  const value = new BasicConstraints({
    cA: ca,
    ...(ca && pathLen !== undefined ? { pathLenConstraint: pathLen } : {}),
  });
  return extension(id_ce_basicConstraints, true, AsnConvert.serialize(value));
}

export function keyUsage(usages: readonly KeyUsageName[]): Extension {
  const flags = usages.reduce((acc, usage) => acc | KeyUsageFlags[usage], 0);
  return extension(id_ce_keyUsage, true, AsnConvert.serialize(new KeyUsage(flags)));
}

export function extendedKeyUsage(usages: readonly ExtendedKeyUsageName[]): Extension {
  const oids = usages.map((usage) => {
    const oid = EKU_OIDS[usage];
    if (!oid) throw new PkiError('invalid_argument', `unknown extended key usage ${String(usage)}`);
    return oid;
  });
  return extension(id_ce_extKeyUsage, false, AsnConvert.serialize(new ExtendedKeyUsage(oids)));
}

export function subjectKeyIdentifier(keyId: Buffer): Extension {
  return extension(id_ce_subjectKeyIdentifier, false, AsnConvert.serialize(new KeyIdentifier(keyId)));
}

export function authorityKeyIdentifier(keyId: Buffer): Extension {
  const value = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) });
  return extension(id_ce_authorityKeyIdentifier, false, AsnConvert.serialize(value));
}

function checkUri(uri: string, what: string): string {
  // IA5String: ASCII only, and a scheme is required for the name to mean anything.
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:[\x21-\x7e]+$/.test(uri)) {
    throw new PkiError('invalid_argument', `${what} "${uri}" is not an ASCII URI`);
  }
  return uri;
}

export function subjectAltName(sans: SubjectAltNames, critical: boolean): Extension {
  const names: GeneralName[] = [
    ...(sans.uris ?? []).map(
      (uri) => new GeneralName({ uniformResourceIdentifier: checkUri(uri, 'SAN URI') }),
    ),
    ...(sans.dns ?? []).map((dns) => {
      if (!/^(\*\.)?[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*\.?$/.test(dns)) {
        throw new PkiError('invalid_argument', `"${dns}" is not a DNS name`);
      }
      return new GeneralName({ dNSName: dns });
    }),
    ...(sans.ips ?? []).map((ip) => {
      if (isIP(ip) === 0) throw new PkiError('invalid_argument', `"${ip}" is not an IP address`);
      return new GeneralName({ iPAddress: ip });
    }),
  ];
  return extension(id_ce_subjectAltName, critical, AsnConvert.serialize(new SubjectAlternativeName(names)));
}

export function crlDistributionPoints(url: string): Extension {
  const point = new DistributionPoint({
    distributionPoint: new DistributionPointName({
      fullName: [new GeneralName({ uniformResourceIdentifier: checkUri(url, 'CRL URL') })],
    }),
  });
  return extension(
    id_ce_cRLDistributionPoints,
    false,
    AsnConvert.serialize(new CRLDistributionPoints([point])),
  );
}

export function authorityInfoAccess(urls: { ocspUrl?: string; caIssuersUrl?: string }): Extension {
  const descriptions: AccessDescription[] = [];
  if (urls.ocspUrl) {
    descriptions.push(
      new AccessDescription({
        accessMethod: OID_AD_OCSP,
        accessLocation: new GeneralName({ uniformResourceIdentifier: checkUri(urls.ocspUrl, 'OCSP URL') }),
      }),
    );
  }
  if (urls.caIssuersUrl) {
    descriptions.push(
      new AccessDescription({
        accessMethod: OID_AD_CA_ISSUERS,
        accessLocation: new GeneralName({
          uniformResourceIdentifier: checkUri(urls.caIssuersUrl, 'CA issuers URL'),
        }),
      }),
    );
  }
  return extension(
    id_pe_authorityInfoAccess,
    false,
    AsnConvert.serialize(new AuthorityInfoAccessSyntax(descriptions)),
  );
}

/** id-pkix-ocsp-nocheck: its value is NULL (RFC 6960 §4.2.2.2.1). */
export function ocspNoCheck(): Extension {
  return extension(OID_OCSP_NOCHECK, false, Buffer.from([0x05, 0x00]));
}

/** The CRL Number is an INTEGER up to 20 octets, so it is encoded from a BigInt here. */
export function crlNumber(value: bigint): Extension {
  if (value < 0n || value >= 1n << 159n) throw new PkiError('invalid_argument', 'crlNumber out of range');
  return extension(id_ce_cRLNumber, false, integer(value));
}

export function encodeExtensions(extensions: readonly Extension[]): Buffer {
  return Buffer.concat(extensions.map((e) => Buffer.from(AsnConvert.serialize(e))));
}
