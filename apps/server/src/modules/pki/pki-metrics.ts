import { Counter, Gauge, type Registry } from 'prom-client';
import { REVOCATION_REASONS } from '@ampora/pki';

/**
 * Every status the responder can answer with: the three certificate statuses of a successful
 * response, the OCSP error statuses ocsp-responder.ts returns, and `internalError` for a request
 * that failed inside the server.
 */
export const OCSP_METRIC_STATUSES = [
  'good',
  'revoked',
  'unknown',
  'malformedRequest',
  'tryLater',
  'internalError',
] as const;

export type OcspMetricStatus = (typeof OCSP_METRIC_STATUSES)[number];

export interface PkiMetrics {
  /** CA certificate notAfter (unix seconds) of each key not retired, by key and state. */
  signingKeyNotAfter: Gauge<'key_id' | 'state'>;
  /** OCSP responder certificate notAfter (unix seconds), by signing key. */
  ocspResponderNotAfter: Gauge<'key_id'>;
  /** nextUpdate of the stored CRL (unix seconds), by signing key. */
  crlNextUpdate: Gauge<'key_id'>;
  /** Number of the stored CRL, by signing key. */
  crlNumber: Gauge<'key_id'>;
  crlPublished: Counter;
  ocspResponses: Counter<'status'>;
  certificatesRevoked: Counter<'reason'>;
}

export function createPkiMetrics(registry: Registry): PkiMetrics {
  const metrics: PkiMetrics = {
    signingKeyNotAfter: new Gauge({
      name: 'ampora_pki_signing_key_not_after_seconds',
      help: 'notAfter of the CA certificate of each Draft, Active and Trusted signing key, unix seconds',
      labelNames: ['key_id', 'state'],
      registers: [registry],
    }),
    ocspResponderNotAfter: new Gauge({
      name: 'ampora_pki_ocsp_responder_not_after_seconds',
      help: 'notAfter of the OCSP responder certificate of each Active and Trusted signing key, unix seconds',
      labelNames: ['key_id'],
      registers: [registry],
    }),
    crlNextUpdate: new Gauge({
      name: 'ampora_pki_crl_next_update_seconds',
      help: 'nextUpdate of the stored CRL of each Active and Trusted signing key, unix seconds',
      labelNames: ['key_id'],
      registers: [registry],
    }),
    crlNumber: new Gauge({
      name: 'ampora_pki_crl_number',
      help: 'CRL number of the stored CRL of each Active and Trusted signing key',
      labelNames: ['key_id'],
      registers: [registry],
    }),
    crlPublished: new Counter({
      name: 'ampora_pki_crl_published_total',
      help: 'CRLs signed and stored by this instance',
      registers: [registry],
    }),
    ocspResponses: new Counter({
      name: 'ampora_pki_ocsp_responses_total',
      help: 'OCSP answers: one per certificate status (good, revoked, unknown) of a successful response, one per error response',
      labelNames: ['status'],
      registers: [registry],
    }),
    certificatesRevoked: new Counter({
      name: 'ampora_pki_certificates_revoked_total',
      help: 'Certificates revoked through this instance, by RFC 5280 reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
  // Every series exists from the start, so rate() and increase() see the first event as a change.
  for (const status of OCSP_METRIC_STATUSES) metrics.ocspResponses.inc({ status }, 0);
  for (const reason of REVOCATION_REASONS) metrics.certificatesRevoked.inc({ reason }, 0);
  return metrics;
}
