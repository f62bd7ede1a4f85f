/**
 * Client credentials of a simulated agent: key pairs, PKCS#10 requests for the
 * OpAMP CSR flow, and the certificate the server issued.
 */
import { generateKeyPair, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  Attribute,
  AttributeTypeAndValue,
  AttributeValue,
  Extension,
  Extensions,
  GeneralName,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  id_ce_subjectAltName,
} from '@peculiar/asn1-x509';
import { uuidToString } from '@ampora/opamp';
import {
  EXTENSION_REQUEST,
  algorithmIdentifier,
  fingerprintSha256,
  instanceUidUri,
  pemEncode,
} from '@ampora/pki';

export type KeyType = 'ec' | 'rsa';

/** A key pair made by the agent; its private half never leaves the agent in the CSR flow. */
export interface AgentKey {
  readonly type: KeyType;
  readonly privateKeyPem: string;
  readonly privateKey: KeyObject;
  readonly publicKeySpkiDer: Buffer;
}

/** What the agent connects with after enrollment. */
export interface AgentCredentials {
  readonly certPem: string;
  readonly keyPem: string;
  /** The CA that issued `certPem` (as offered in `certificate.ca_cert`). */
  readonly caPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the certificate's DER, lowercase hex. */
  readonly fingerprint: string;
  /** Who made the key: the agent (CSR flow) or the server. */
  readonly keyOrigin: 'csr' | 'server';
}

const generate = promisify(generateKeyPair);
const COMMON_NAME = '2.5.4.3';

export async function generateAgentKey(type: KeyType = 'ec'): Promise<AgentKey> {
  const { privateKey, publicKey } =
    type === 'ec'
      ? await generate('ec', { namedCurve: 'P-256' })
      : await generate('rsa', { modulusLength: 2048 });
  return {
    type,
    privateKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeySpkiDer: publicKey.export({ type: 'spki', format: 'der' }),
  };
}

/**
 * A PEM PKCS#10 request naming the agent's instance_uid in a SAN URI `urn:opamp:instance-uid:<uuid>`
 * (the server checks it against the message's uid), signed with the agent's key. `claimUid` lets
 * a test claim another uid.
 */
export async function createCsr(
  instanceUid: Uint8Array,
  key: AgentKey,
  options: { claimUid?: string; commonName?: string } = {},
): Promise<string> {
  const uid = options.claimUid ?? uuidToString(instanceUid);
  const san = new SubjectAlternativeName([
    new GeneralName({ uniformResourceIdentifier: instanceUidUri(uid) }),
  ]);
  const extensions = new Extensions([
    new Extension({
      extnID: id_ce_subjectAltName,
      critical: false,
      extnValue: new OctetString(AsnConvert.serialize(san)),
    }),
  ]);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name([
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({
          type: COMMON_NAME,
          value: new AttributeValue({ utf8String: options.commonName ?? 'ampora-agent-sim' }),
        }),
      ]),
    ]),
    subjectPKInfo: AsnConvert.parse(key.publicKeySpkiDer, SubjectPublicKeyInfo),
    attributes: new Attributes([
      new Attribute({ type: EXTENSION_REQUEST, values: [AsnConvert.serialize(extensions)] }),
    ]),
  });
  const signature = sign('sha256', Buffer.from(AsnConvert.serialize(info)), {
    key: key.privateKey,
    dsaEncoding: 'der',
  });
  const csr = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: algorithmIdentifier(key.type === 'ec' ? 'ES256' : 'RS256'),
    signature: new Uint8Array(signature).buffer,
  });
  return pemEncode(Buffer.from(AsnConvert.serialize(csr)), 'CERTIFICATE REQUEST');
}

/** Reads validity and fingerprint out of an issued certificate. */
export function credentialsOf(
  certPem: string,
  keyPem: string,
  caPem: string,
  keyOrigin: 'csr' | 'server',
): AgentCredentials {
  const cert = new X509Certificate(certPem);
  return {
    certPem,
    keyPem,
    caPem,
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    fingerprint: fingerprintSha256(cert.raw),
    keyOrigin,
  };
}
