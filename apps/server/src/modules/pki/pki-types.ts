import type { Tx } from '@ampora/db';
import type { KeyAlgorithm } from '@ampora/pki';

/** A certificate that has been signed but not yet recorded; the caller's transaction decides. */
export interface SignedCertificate {
  serialHex: string;
  /** SHA-256 of the DER, lowercase hex: the identity of an agent. */
  fingerprint: string;
  certDer: Buffer;
  certPem: string;
  /** The subject DN as text, as the certificate list shows it. */
  subject: string;
  /** Issuing CA certificate(s), PEM, leaf excluded. */
  chainPem: string;
  notBefore: Date;
  notAfter: Date;
  signingKeyId: string;
}

export type CertificateKind = 'agent' | 'ocsp-responder' | 'server-tls';

export interface AgentCertificateRequest {
  tenantId: string;
  agentId: string;
  publicKeySpkiDer: Buffer;
  /** The key policy's verdict on this key when the caller has it (a verified CSR's `keyAlgorithm`). */
  keyAlgorithm?: KeyAlgorithm;
  /** Placed in the CN; the identity itself is the SAN URI urn:ampora:tenant:<t>:agent:<a>. */
  commonName: string;
  /** Overrides the configured agent certificate lifetime (renewal keeps the configured one). */
  lifetimeDays?: number;
}

export type RevocationStatus =
  | { status: 'good'; tenantId: string | null; notAfter: Date }
  | { status: 'revoked'; tenantId: string | null; revokedAt: Date; reason: string }
  | { status: 'unknown' };

/** Called after a revocation commits, so live sessions using the certificate can be closed. */
export type RevocationListener = (event: {
  tenantId: string;
  fingerprint: string;
  serialHex: string;
}) => void;

/**
 * What the PKI module offers other modules (enrollment, identities, the OpAMP gateway).
 * Signing never happens inside a database transaction: sign first, then record in the caller's
 * transaction, which decides whether the certificate is ever delivered.
 */
export interface PkiService {
  signAgentCertificate(req: AgentCertificateRequest): Promise<SignedCertificate>;
  /** Records an issued certificate in the caller's transaction (tenant context set). */
  recordIssued(
    tx: Tx,
    cert: SignedCertificate,
    meta: { tenantId: string; agentId: string | null; kind: CertificateKind },
  ): Promise<void>;
  /** Status by fingerprint, as used at every mTLS handshake. Cached briefly; revocations invalidate at once. */
  statusByFingerprint(fingerprint: string): Promise<RevocationStatus>;
  /** PEM bundle of every CA certificate agents must trust (Active and Trusted keys). */
  trustBundlePem(): Promise<string>;
  /**
   * TLS material for the OpAMP listener in local mode: a server certificate for localhost from
   * Ampora's CA. `caPem` is the trust bundle, as `trustBundlePem` returns it.
   */
  localServerTls(hostnames: string[]): Promise<{ certPem: string; keyPem: string; caPem: string }>;
  onRevoked(listener: RevocationListener): void;
}
