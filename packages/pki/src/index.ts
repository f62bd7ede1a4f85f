// @peculiar/x509 (used for distinguished names) needs reflect-metadata loaded first.
import 'reflect-metadata';

export { PkiError, isPkiError } from './errors.js';
export type { PkiErrorCode } from './errors.js';

export { algorithmIdentifier } from './algorithms.js';
export type { HashName, SignatureAlgorithm } from './algorithms.js';
export { keyObjectSigner } from './signer.js';
export type { Signer } from './signer.js';
export { describePublicKey } from './public-key.js';
export type { KeyAlgorithm } from './public-key.js';

export {
  fingerprintSha256,
  pemDecode,
  pemDecodeAll,
  pemEncode,
  randomSerial,
  serialFromHex,
  serialToHex,
  trustBundlePem,
} from './encoding.js';
export type { DerOrPem, PemBlock } from './encoding.js';
export type { DistinguishedName } from './names.js';
export type { ExtendedKeyUsageName, SubjectAltNames } from './extensions.js';

export { inspectCertificate, wholeSeconds } from './certificate.js';
export type { CertificateInfo } from './certificate.js';
export { createCaCertificate } from './ca-certificate.js';
export type { CreateCaCertificateParams } from './ca-certificate.js';
export { issueLeaf, issueOcspResponderCert } from './leaf.js';
export type { IssueLeafParams, IssueOcspResponderParams } from './leaf.js';
export { prepareIssuer } from './issuer.js';
export type { Issuer, IssuerFacts, PreparedIssuer } from './issuer.js';
export { agentIdentityUri, parseAgentIdentity, parseAgentIdentityUri } from './agent-identity.js';
export type { AgentIdentity } from './agent-identity.js';

export { EXTENSION_REQUEST, instanceUidUri, parseAndVerifyCsr } from './csr.js';
export type { VerifiedCsr } from './csr.js';
export { generateKeyPairForAgent } from './agent-key.js';
export type { AgentKeySpec, GeneratedAgentKey } from './agent-key.js';

export { REVOCATION_REASONS } from './revocation-reason.js';
export type { RevocationReason } from './revocation-reason.js';
export { buildCrl, crlPem } from './crl.js';
export type { BuildCrlParams, RevokedEntry } from './crl.js';

export { certIdFor, issuerMatcher, matchesIssuer } from './ocsp-cert-id.js';
export type { OcspCertId } from './ocsp-cert-id.js';
export { parseOcspRequest } from './ocsp-request.js';
export type { ParseOcspRequestOptions, ParsedOcspRequest } from './ocsp-request.js';
export { buildOcspResponse, ocspErrorResponse, prepareOcspResponder } from './ocsp-response.js';
export type {
  BuildOcspResponseParams,
  OcspResponderParams,
  OcspResponseContent,
  PreparedOcspResponder,
  OcspCertStatus,
  OcspErrorStatus,
  OcspSingleResponse,
} from './ocsp-response.js';

export { importExternalCa } from './import.js';
export type { ImportExternalCaInput, ImportExternalCaOptions, ImportedCa } from './import.js';
