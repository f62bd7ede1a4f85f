import { sql } from 'kysely';
import {
  inspectCertificate,
  isPkiError,
  issueOcspResponderCert,
  issuerMatcher,
  ocspErrorResponse,
  parseOcspRequest,
  prepareOcspResponder,
  randomSerial,
  serialToHex,
  type OcspCertId,
  type OcspSingleResponse,
  type PreparedOcspResponder,
  type RevocationReason,
} from '@ampora/pki';
import { DEFAULT_TENANT_ID, withTenant } from '@ampora/db';
import type { ServerContext } from '../../runtime/context.js';
import { systemAuditContext } from '../audit/audit-recorder.js';
import type { KeyCustody } from './ca-key-custody.js';
import type { PkiMetrics } from './pki-metrics.js';
import {
  listResponders,
  lockResponder,
  recordCertificate,
  statusBySerials,
  upsertResponder,
  type PublishedKeyRow,
  type ResponderRow,
} from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type { SigningKeys } from './signing-keys-service.js';

export interface OcspResponderDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'logger'> {
  custody: KeyCustody;
  settings: PkiSettings;
  keys: SigningKeys;
  metrics: Pick<PkiMetrics, 'ocspResponses'>;
}

const HOUR_MS = 3_600_000;
/** Replicas pick up another replica's responder renewal or key change within this long. */
const STATE_CACHE_MS = 10_000;

export const responderAad = (signingKeyId: string, serialHex: string) =>
  `ca_ocsp_responders:key_ref:${signingKeyId}:${serialHex}`;

/** Renewed when less than a third of its validity is left, or when it is missing. */
function needsRenewal(row: ResponderRow | undefined, now: Date): boolean {
  if (!row) return true;
  const life = row.not_after.getTime() - row.not_before.getTime();
  return row.not_after.getTime() - now.getTime() < life / 3;
}

function serialHexOf(certId: OcspCertId): string | undefined {
  return certId.serial > 0n ? serialToHex(certId.serial) : undefined;
}

/**
 * The OCSP responder (RFC 6960, with the RFC 5019 profile): every answer comes from the current
 * revocation data, so a revocation is visible at once. Each publishing signing key has its own
 * delegated responder certificate (EKU ocspSigning, id-pkix-ocsp-nocheck), kept here.
 */
export function createOcspResponder(deps: OcspResponderDeps) {
  const { db, clock, ids, audit, custody, settings, keys, metrics } = deps;
  /** A publishing key with its CertID matcher, so its name and key hashes are computed once. */
  type MatchedKey = PublishedKeyRow & { matches: (certId: OcspCertId) => boolean };
  let state: { until: number; keys: MatchedKey[]; responders: Map<string, ResponderRow> } | undefined;
  /** Per signing key, its responder as of one responder serial and CA certificate. */
  const signers = new Map<string, { serial: string; issuerCert: Buffer; responder: PreparedOcspResponder }>();

  async function current() {
    const now = clock.now().getTime();
    if (state && state.until > now) return state;
    const [publishing, responders] = await Promise.all([keys.publishing(), listResponders(db)]);
    state = {
      until: now + STATE_CACHE_MS,
      keys: publishing.map((k) => ({ ...k, matches: issuerMatcher(k.cert_der) })),
      responders: new Map(responders.map((r) => [r.signing_key_id, r])),
    };
    return state;
  }

  /** The responder of `key`, checked against its CA once per responder certificate. */
  function responderOf(key: PublishedKeyRow, row: ResponderRow): PreparedOcspResponder {
    const cached = signers.get(row.signing_key_id);
    if (cached?.serial === row.serial_hex && cached.issuerCert.equals(key.cert_der)) return cached.responder;
    const signer = custody.signer({
      keyRef: row.key_ref,
      provider: row.provider,
      algorithm: row.algorithm,
      aad: responderAad(row.signing_key_id, row.serial_hex),
      publicKeySpkiDer: inspectCertificate(row.cert_der).publicKeySpkiDer,
    });
    const responder = prepareOcspResponder({
      responder: { cert: row.cert_der, signer },
      issuerCert: key.cert_der,
    });
    signers.set(row.signing_key_id, { serial: row.serial_hex, issuerCert: key.cert_der, responder });
    return responder;
  }

  /** The answer to one request, counted by status. */
  async function answer(requestDer: Buffer): Promise<Buffer> {
    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch (err) {
      if (isPkiError(err)) return refuse('malformedRequest');
      throw err;
    }
    const { keys: publishing, responders } = await current();
    const matched = request.requests.map((certId) => publishing.find((k) => k.matches(certId)));
    // One response is signed by one issuer's responder; CertIDs of another issuer in the same
    // request (clients send one) are answered `unknown`.
    const key = matched.find((k) => k !== undefined) ?? publishing.find((k) => k.state === 'active');
    const responder = key && responders.get(key.id);
    if (!key || !responder) return refuse('tryLater');

    const serials = request.requests.flatMap((certId, i) => {
      const hex = matched[i] === key ? serialHexOf(certId) : undefined;
      return hex ? [hex] : [];
    });
    const statuses = new Map((await statusBySerials(db, key.id, serials)).map((s) => [s.serial_hex, s]));
    const now = clock.now();
    const nextUpdate = new Date(now.getTime() + settings.crlNextUpdateMs);
    const responses = request.requests.map((certId, i): OcspSingleResponse => {
      const base = { certId, thisUpdate: now, nextUpdate };
      const hex = matched[i] === key ? serialHexOf(certId) : undefined;
      const status = hex ? statuses.get(hex) : undefined;
      if (!status) return { ...base, status: 'unknown' };
      if (status.status === 'revoked') {
        return {
          ...base,
          status: 'revoked',
          revokedAt: status.revoked_at!,
          reason: (status.reason ?? 'unspecified') as RevocationReason,
        };
      }
      return { ...base, status: 'good' };
    });
    const response = await responderOf(key, responder).sign({
      responses,
      ...(request.nonce ? { nonce: request.nonce } : {}),
      producedAt: now,
    });
    for (const r of responses) metrics.ocspResponses.inc({ status: r.status });
    return response;
  }

  function refuse(status: 'malformedRequest' | 'tryLater'): Buffer {
    metrics.ocspResponses.inc({ status });
    return ocspErrorResponse(status);
  }

  return {
    /** Issues (or renews) the responder certificate of a signing key. Returns whether it did. */
    async ensure(key: PublishedKeyRow): Promise<boolean> {
      const now = clock.now();
      const existing = (await current()).responders.get(key.id);
      if (!needsRenewal(existing, now)) return false;
      const issuer = keys.issuerOf(key);
      const notAfter = new Date(
        Math.min(now.getTime() + settings.ocspResponderLifetimeMs, issuer.notAfter.getTime()),
      );
      if (notAfter.getTime() <= now.getTime() + HOUR_MS) {
        deps.logger.warn(
          { signingKeyId: key.id },
          'the CA certificate expires too soon to issue an OCSP responder',
        );
        return false;
      }
      const serial = randomSerial();
      const serialHex = serialToHex(serial);
      const responderKey = await custody.generate('ecdsa-p256', responderAad(key.id, serialHex));
      const notBefore = new Date(now.getTime() - HOUR_MS);
      const der = await issueOcspResponderCert({
        issuer,
        subjectPublicKeySpkiDer: responderKey.publicKeySpkiDer,
        subject: `CN=Ampora OCSP Responder ${key.id}, O=Ampora`,
        notBefore,
        notAfter,
        serial,
      });
      const info = inspectCertificate(der);
      const actx = systemAuditContext(DEFAULT_TENANT_ID, 'pki-ocsp-responder');
      const stored = await withTenant(db, DEFAULT_TENANT_ID, async (tx) => {
        // Replicas renewing together queue here; the later one finds a fresh responder and stops.
        await sql`select pg_advisory_xact_lock(hashtextextended(${'ampora:pki:responder:' + key.id}, 0))`.execute(
          tx,
        );
        if (!needsRenewal(await lockResponder(tx, key.id), now)) return false;
        await upsertResponder(tx, {
          signing_key_id: key.id,
          serial_hex: serialHex,
          algorithm: responderKey.algorithm,
          provider: responderKey.provider,
          key_ref: responderKey.keyRef,
          cert_der: der,
          not_before: info.notBefore,
          not_after: info.notAfter,
          updated_at: now,
        });
        const id = ids.uuid();
        const fingerprint = info.fingerprintSha256;
        await recordCertificate(tx, {
          id,
          tenantId: DEFAULT_TENANT_ID,
          kind: 'ocsp-responder',
          agentId: null,
          subject: info.subject,
          serialHex,
          fingerprint,
          certDer: der,
          signingKeyId: key.id,
          notBefore: info.notBefore,
          notAfter: info.notAfter,
        });
        await audit.record(tx, actx, {
          action: 'pki.ocsp-responder.issue',
          entity: { type: 'certificate', id },
          after: { signingKeyId: key.id, serialHex, fingerprint, notAfter: info.notAfter },
        });
        return true;
      });
      state = undefined;
      return stored;
    },

    /** Answers one OCSP request (DER). Always returns an OCSPResponse, never throws for bad input. */
    async respond(requestDer: Buffer): Promise<Buffer> {
      try {
        return await answer(requestDer);
      } catch (err) {
        // The request ends in an HTTP 500, not an OCSP answer; counted so that alerts see it.
        metrics.ocspResponses.inc({ status: 'internalError' });
        throw err;
      }
    },

    invalidate() {
      state = undefined;
    },
  };
}

export type OcspResponder = ReturnType<typeof createOcspResponder>;
