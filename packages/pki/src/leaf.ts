import type { Extension } from '@peculiar/asn1-x509';
import { checkValidity, signCertificate } from './certificate.js';
import { PkiError } from './errors.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoints,
  extendedKeyUsage,
  keyUsage,
  ocspNoCheck,
  subjectAltName,
  subjectKeyIdentifier,
  type ExtendedKeyUsageName,
  type KeyUsageName,
  type SubjectAltNames,
} from './extensions.js';
import { encodeName, type DistinguishedName } from './names.js';
import { checkedIssuer, type Issuer } from './issuer.js';
import { assertAcceptableKey, keyIdentifier, type KeyAlgorithm } from './public-key.js';

export interface IssueLeafParams {
  /** A `PreparedIssuer` saves parsing its certificate for every leaf. */
  readonly issuer: Issuer;
  readonly subjectPublicKeySpkiDer: Buffer;
  /**
   * What `assertAcceptableKey` (or `parseAndVerifyCsr`) already returned for this very key;
   * without it the key policy is checked here.
   */
  readonly subjectKeyAlgorithm?: KeyAlgorithm;
  /** May be empty when `sans` names the subject; the SAN extension then becomes critical. */
  readonly subject: DistinguishedName;
  readonly sans?: SubjectAltNames;
  /** notAfter must not exceed the issuer's notAfter; clamp before calling if needed. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: bigint;
  readonly eku: readonly ExtendedKeyUsageName[];
  readonly crlUrl?: string;
  readonly ocspUrl?: string;
  readonly caIssuersUrl?: string;
}

/** Signature-only usages for EC/Ed25519; RSA may also do RSA key transport in TLS 1.2. */
function keyUsageFor(algorithm: KeyAlgorithm): KeyUsageName[] {
  return algorithm.type === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
}

interface EndEntityProfile {
  readonly keyUsage?: readonly KeyUsageName[];
  readonly extraExtensions?: readonly Extension[];
}

async function issueEndEntity(params: IssueLeafParams, profile: EndEntityProfile): Promise<Buffer> {
  const issuer = checkedIssuer(params.issuer, 'keyCertSign');
  const algorithm = params.subjectKeyAlgorithm ?? assertAcceptableKey(params.subjectPublicKeySpkiDer);
  const { notBefore, notAfter } = checkValidity(params.notBefore, params.notAfter);
  const issuerValidity = issuer.parsed.asn1.tbsCertificate.validity;
  // A leaf outliving its CA would fail validation early; a notBefore earlier than the
  // CA's (clock-skew backdating) is harmless, so only the end is checked.
  if (notAfter.getTime() > issuerValidity.notAfter.getTime().getTime()) {
    throw new PkiError('invalid_argument', "notAfter must not be later than the issuer's notAfter");
  }
  if (params.eku.length === 0)
    throw new PkiError('invalid_argument', 'at least one extended key usage is required');
  const sans = params.sans ?? {};
  const hasSans = (sans.uris?.length ?? 0) + (sans.dns?.length ?? 0) + (sans.ips?.length ?? 0) > 0;
  const emptySubject = params.subject.trim() === '';
  if (emptySubject && !hasSans) throw new PkiError('invalid_argument', 'a leaf needs a subject or a SAN');

  const extensions: Extension[] = [
    basicConstraints(false),
    keyUsage(profile.keyUsage ?? keyUsageFor(algorithm)),
    extendedKeyUsage(params.eku),
    subjectKeyIdentifier(keyIdentifier(params.subjectPublicKeySpkiDer)),
    authorityKeyIdentifier(issuer.keyIdentifier),
  ];
  // RFC 5280 §4.2.1.6: with an empty subject the SAN carries the identity and is critical.
  if (hasSans) extensions.push(subjectAltName(sans, emptySubject));
  if (params.crlUrl) extensions.push(crlDistributionPoints(params.crlUrl));
  if (params.ocspUrl || params.caIssuersUrl) {
    extensions.push(
      authorityInfoAccess({
        ...(params.ocspUrl ? { ocspUrl: params.ocspUrl } : {}),
        ...(params.caIssuersUrl ? { caIssuersUrl: params.caIssuersUrl } : {}),
      }),
    );
  }
  extensions.push(...(profile.extraExtensions ?? []));

  return signCertificate({
    serial: params.serial,
    signer: params.issuer.signer,
    issuerDer: issuer.parsed.subjectDer,
    subjectDer: encodeName(params.subject),
    spkiDer: params.subjectPublicKeySpkiDer,
    notBefore,
    notAfter,
    extensions,
  });
}

/**
 * An end-entity certificate (agent, federation client, server) signed by `issuer`,
 * with AKI/SKI, key usage fitting the key type, optional CDP and AIA. Returns DER.
 */
export function issueLeaf(params: IssueLeafParams): Promise<Buffer> {
  return issueEndEntity(params, {});
}

export type IssueOcspResponderParams = Omit<IssueLeafParams, 'eku' | 'sans' | 'crlUrl' | 'ocspUrl'>;

/**
 * The delegated OCSP responder certificate: EKU ocspSigning, digitalSignature only,
 * and id-pkix-ocsp-nocheck so clients do not ask OCSP about OCSP. Keep it short-lived.
 */
export function issueOcspResponderCert(params: IssueOcspResponderParams): Promise<Buffer> {
  return issueEndEntity(
    { ...params, eku: ['ocspSigning'] },
    { keyUsage: ['digitalSignature'], extraExtensions: [ocspNoCheck()] },
  );
}
