import type { Config } from '../../config/index.js';
import type { CaKeyAlgorithm } from './ca-key-custody.js';

const DAY_MS = 86_400_000;

/** The CA's settings, with the URLs embedded in certificates resolved. */
export interface PkiSettings {
  keyAlgorithm: CaKeyAlgorithm;
  caCertLifetimeMs: number;
  agentCertLifetimeDays: number;
  ocspResponderLifetimeMs: number;
  serverCertLifetimeMs: number;
  trustedWindowMs: number;
  crlNextUpdateMs: number;
  statusCacheMs: number;
  /** How often revocations made by other replicas are read. */
  revocationPollMs: number;
  /** The CRL distribution point of certificates issued by signing key `keyId`. */
  crlUrl(keyId: string): string;
  ocspUrl(): string;
}

export const days = (n: number) => n * DAY_MS;

/**
 * Default URLs derive from the HTTP listener, read when a certificate is issued (the port is only
 * known once the listener is up). Each certificate names its own issuer's CRL, so CRLs of keys
 * replaced by a rotation stay reachable at the URL their certificates carry.
 */
export function pkiSettings(config: Config, httpPort: () => number): PkiSettings {
  const ca = config.ca;
  const base = () => (config.http.publicUrl ?? `http://127.0.0.1:${httpPort()}`).replace(/\/+$/, '');
  return {
    keyAlgorithm: ca.keyAlgorithm,
    caCertLifetimeMs: days(ca.caCertLifetimeDays),
    agentCertLifetimeDays: ca.agentCertLifetimeDays,
    ocspResponderLifetimeMs: days(ca.ocspResponderLifetimeDays),
    serverCertLifetimeMs: days(ca.serverCertLifetimeDays),
    trustedWindowMs: days(ca.trustedWindowDays),
    crlNextUpdateMs: ca.crlNextUpdateMinutes * 60_000,
    statusCacheMs: ca.statusCacheSeconds * 1000,
    revocationPollMs: ca.revocationPollSeconds * 1000,
    crlUrl: (keyId) => (ca.crlUrl ?? `${base()}/pki/crl/{keyId}.der`).replaceAll('{keyId}', keyId),
    ocspUrl: () => ca.ocspUrl ?? `${base()}/pki/ocsp`,
  };
}
