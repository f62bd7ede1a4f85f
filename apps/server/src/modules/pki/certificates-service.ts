import { decodeIdCursor, encodeIdCursor } from '../../http/cursor.js';
import {
  PkiError,
  agentIdentityUri,
  fingerprintSha256,
  inspectCertificate,
  issueLeaf,
  pemEncode,
  randomSerial,
  serialToHex,
  wholeSeconds,
  type ExtendedKeyUsageName,
  type KeyAlgorithm,
  type SubjectAltNames,
} from '@ampora/pki';
import { withTenant, type Tx } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { ServerContext } from '../../runtime/context.js';
import {
  listCertificates,
  recordCertificate,
  type CertificateFilter,
  type CertificateSummaryRow,
} from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type { AgentCertificateRequest, CertificateKind, SignedCertificate } from './pki-types.js';
import type { CaIssuer, SigningKeys } from './signing-keys-service.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Issued certificates start a little in the past, for agents whose clock runs slow. */
const BACKDATE_MS = 5 * MINUTE_MS;
/** X.520 upper bound of a common name. */
const MAX_CN = 64;

export interface CertificatesDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids'> {
  settings: PkiSettings;
  signingKeys: Pick<SigningKeys, 'activeIssuer'>;
}

/** RFC 4514 escaping, so a common name can never add attributes to the subject. */
export function commonNameDn(commonName: string): string {
  const cn = [...commonName].slice(0, MAX_CN).join('');
  if (cn === '') return '';
  const escaped = cn
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
  return `CN=${escaped}`;
}

/** A value that reads the same escaped or not, in RFC 4514 and in the DN text of the certificate list. */
const PLAIN_COMMON_NAME = /^CN=[A-Za-z0-9.-]+$/;

/**
 * The subject as the certificate list shows it. A plain `CN=…` (every agent's: its uid) is that
 * text already; anything else is read back from the certificate, which costs a full parse.
 */
function subjectText(subject: string, der: Buffer): string {
  return PLAIN_COMMON_NAME.test(subject) ? subject : inspectCertificate(der).subject;
}

export type CertificateStatusFilter = NonNullable<CertificateFilter['status']>;

export interface CertificateView {
  id: string;
  serialHex: string;
  fingerprint: string;
  kind: CertificateKind;
  agentId: string | null;
  subject: string;
  signingKeyId: string;
  notBefore: string;
  notAfter: string;
  status: 'active' | 'revoked' | 'expired';
  revokedAt: string | null;
  revocationReason: string | null;
  createdAt: string;
}

export function toCertificateView(r: CertificateSummaryRow, now: Date): CertificateView {
  return {
    id: r.id,
    serialHex: r.serial_hex,
    fingerprint: r.fingerprint,
    kind: r.kind,
    agentId: r.agent_id,
    subject: r.subject,
    signingKeyId: r.signing_key_id,
    notBefore: r.not_before.toISOString(),
    notAfter: r.not_after.toISOString(),
    status: r.status === 'revoked' ? 'revoked' : r.not_after <= now ? 'expired' : 'active',
    revokedAt: r.revoked_at?.toISOString() ?? null,
    revocationReason: r.revocation_reason,
    createdAt: r.created_at.toISOString(),
  };
}

/** Filters and page of `GET /api/pki/certificates`. */
export interface CertificateListQuery {
  kind?: CertificateKind;
  status?: CertificateStatusFilter;
  agentId?: string;
  cursor?: string;
  limit: number;
}

/**
 * Issuing, recording and listing certificates. Signing happens before the caller's transaction;
 * `recordIssued` then writes the certificate and its public status in that transaction, so an
 * enrollment that rolls back leaves no trace.
 */
export function createCertificates(deps: CertificatesDeps) {
  const { db, clock, ids, settings, signingKeys } = deps;

  /** Signs a leaf under `issuer`; agent and server certificates differ only in these parameters. */
  async function sign(
    issuer: CaIssuer,
    p: {
      spki: Buffer;
      keyAlgorithm?: KeyAlgorithm;
      subject: string;
      sans: SubjectAltNames;
      eku: ExtendedKeyUsageName[];
      lifetimeMs: number;
    },
  ): Promise<SignedCertificate> {
    const now = clock.now();
    const notBefore = wholeSeconds(new Date(now.getTime() - BACKDATE_MS));
    // A certificate never outlives its CA: it would stop validating early anyway.
    const notAfter = wholeSeconds(
      new Date(Math.min(now.getTime() + p.lifetimeMs, issuer.notAfter.getTime())),
    );
    if (notAfter.getTime() <= now.getTime()) {
      throw problems.unavailable(60, 'the Active CA certificate has expired; rotate the signing key');
    }
    const serial = randomSerial();
    const der = await issueLeaf({
      issuer,
      subjectPublicKeySpkiDer: p.spki,
      subjectKeyAlgorithm: p.keyAlgorithm,
      subject: p.subject,
      sans: p.sans,
      notBefore,
      notAfter,
      serial,
      eku: p.eku,
      crlUrl: settings.crlUrl(issuer.id),
      ocspUrl: settings.ocspUrl(),
    });
    return {
      serialHex: serialToHex(serial),
      fingerprint: fingerprintSha256(der),
      certDer: der,
      certPem: pemEncode(der, 'CERTIFICATE'),
      subject: subjectText(p.subject, der),
      chainPem: issuer.chainPem,
      notBefore,
      notAfter,
      signingKeyId: issuer.id,
    };
  }

  async function record(
    tx: Tx,
    cert: SignedCertificate,
    meta: { tenantId: string; agentId: string | null; kind: CertificateKind },
  ): Promise<string> {
    const id = ids.uuid();
    await recordCertificate(tx, {
      id,
      tenantId: meta.tenantId,
      kind: meta.kind,
      agentId: meta.agentId,
      subject: cert.subject,
      serialHex: cert.serialHex,
      fingerprint: cert.fingerprint,
      certDer: cert.certDer,
      signingKeyId: cert.signingKeyId,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    });
    return id;
  }

  return {
    async signAgentCertificate(req: AgentCertificateRequest): Promise<SignedCertificate> {
      const lifetimeDays = req.lifetimeDays ?? settings.agentCertLifetimeDays;
      if (!Number.isInteger(lifetimeDays) || lifetimeDays < 1 || lifetimeDays > 3650) {
        throw new PkiError('invalid_argument', 'lifetimeDays must be a whole number from 1 to 3650');
      }
      return sign(await signingKeys.activeIssuer(), {
        spki: req.publicKeySpkiDer,
        keyAlgorithm: req.keyAlgorithm,
        subject: commonNameDn(req.commonName),
        sans: { uris: [agentIdentityUri(req.tenantId, req.agentId)] },
        eku: ['clientAuth'],
        lifetimeMs: lifetimeDays * DAY_MS,
      });
    },

    async recordIssued(
      tx: Tx,
      cert: SignedCertificate,
      meta: { tenantId: string; agentId: string | null; kind: CertificateKind },
    ): Promise<void> {
      await record(tx, cert, meta);
    },

    /** Records and returns the row id; used by the test hooks and by local TLS. */
    record,

    async list(tenantId: string, q: CertificateListQuery) {
      const now = clock.now();
      const rows = await withTenant(db, tenantId, (tx) =>
        listCertificates(tx, {
          kind: q.kind,
          status: q.status,
          agentId: q.agentId,
          after: q.cursor ? decodeIdCursor(q.cursor) : undefined,
          limit: q.limit + 1,
          now,
        }),
      );
      const page = rows.slice(0, q.limit);
      return {
        items: page.map((r) => toCertificateView(r, now)),
        nextCursor: rows.length > q.limit ? encodeIdCursor(page[page.length - 1]!.id) : null,
      };
    },

    sign,
  };
}

export type Certificates = ReturnType<typeof createCertificates>;
