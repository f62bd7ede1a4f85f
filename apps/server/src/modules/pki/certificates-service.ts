import { decodeIdCursor, encodeIdCursor } from '../../http/cursor.js';
import { generateKeyPair } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import {
  PkiError,
  agentIdentityUri,
  fingerprintSha256,
  inspectCertificate,
  issueLeaf,
  pemDecodeAll,
  pemEncode,
  randomSerial,
  serialToHex,
  type ExtendedKeyUsageName,
  type SubjectAltNames,
} from '@ampora/pki';
import { DEFAULT_TENANT_ID, withTenant, type Tx } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { ServerContext } from '../../runtime/context.js';
import { systemAuditContext, type AuditContext } from '../audit/audit-recorder.js';
import {
  deleteServerTls,
  getServerTls,
  insertServerTls,
  listCertificates,
  lockCertificates,
  markRevoked,
  recordCertificate,
  statusByFingerprint,
  type CertificateFilter,
  type CertificateSummaryRow,
} from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type {
  AgentCertificateRequest,
  CertificateKind,
  RevocationStatus,
  SignedCertificate,
} from './pki-types.js';
import type { CaIssuer, SigningKeys } from './signing-keys-service.js';

const generateKeyPairAsync = promisify(generateKeyPair);

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Issued certificates start a little in the past, for agents whose clock runs slow. */
const BACKDATE_MS = 5 * MINUTE_MS;
/** X.520 upper bound of a common name. */
const MAX_CN = 64;
const STATUS_CACHE_MAX = 100_000;

export interface CertificatesDeps extends Pick<
  ServerContext,
  'db' | 'clock' | 'ids' | 'audit' | 'keys' | 'logger'
> {
  settings: PkiSettings;
  signingKeys: SigningKeys;
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

const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

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

export interface RevocationOutcome {
  revoked: Array<{ id: string; fingerprint: string; serialHex: string; signingKeyId: string }>;
  alreadyRevoked: string[];
  notFound: string[];
}

/**
 * Issuing, recording, looking up and revoking certificates. Signing happens before the caller's
 * transaction; `recordIssued` then writes the certificate and its public status in that
 * transaction, so an enrollment that rolls back leaves no trace.
 */
export function createCertificates(deps: CertificatesDeps) {
  const { db, clock, ids, audit, settings, signingKeys } = deps;
  const statusCache = new Map<string, { value: RevocationStatus; until: number }>();

  async function sign(
    issuer: CaIssuer,
    p: {
      spki: Buffer;
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

    async statusByFingerprint(fingerprint: string): Promise<RevocationStatus> {
      const key = fingerprint.toLowerCase();
      const now = clock.now().getTime();
      const cached = statusCache.get(key);
      if (cached && cached.until > now) return cached.value;
      const row = /^[0-9a-f]{64}$/.test(key) ? await statusByFingerprint(db, key) : undefined;
      // An unknown fingerprint is not cached: it may be recorded by an enrollment a moment later.
      if (!row) return { status: 'unknown' };
      const value: RevocationStatus =
        row.status === 'revoked'
          ? { status: 'revoked', tenantId: row.owner_tenant, revokedAt: row.revoked_at!, reason: row.reason! }
          : { status: 'good', tenantId: row.owner_tenant, notAfter: row.not_after };
      if (settings.statusCacheMs > 0) {
        if (statusCache.size >= STATUS_CACHE_MAX) statusCache.delete(statusCache.keys().next().value!);
        statusCache.set(key, { value, until: now + settings.statusCacheMs });
      }
      return value;
    },

    forgetStatus(fingerprints: readonly string[]) {
      for (const f of fingerprints) statusCache.delete(f);
    },

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

    /**
     * Revokes certificates of the caller's tenant in one audited transaction. Ids of other tenants
     * are invisible under RLS and come back as not found. A bulk request is one audit event.
     */
    async revoke(
      actx: AuditContext,
      certificateIds: readonly string[],
      reason: string,
      mode: 'single' | 'bulk',
    ): Promise<RevocationOutcome> {
      const now = clock.now();
      const unique = [...new Set(certificateIds)];
      return withTenant(db, actx.tenantId, async (tx) => {
        const rows = await lockCertificates(tx, unique);
        const found = new Set(rows.map((r) => r.id));
        const toRevoke = rows.filter((r) => r.status === 'active');
        await markRevoked(tx, toRevoke, now, reason);
        const revoked = toRevoke.map((r) => ({
          id: r.id,
          fingerprint: r.fingerprint,
          serialHex: r.serial_hex,
          signingKeyId: r.signing_key_id,
          agentId: r.agent_id,
          kind: r.kind,
        }));
        if (mode === 'single' && revoked[0]) {
          await audit.record(tx, actx, {
            action: 'pki.certificate.revoke',
            entity: { type: 'certificate', id: revoked[0].id },
            before: { status: 'active' },
            after: { status: 'revoked', reason, revokedAt: now, ...revoked[0] },
          });
        } else if (mode === 'bulk' && revoked.length) {
          await audit.record(tx, actx, {
            action: 'pki.certificate.revoke-bulk',
            entity: { type: 'certificate', id: null },
            after: { status: 'revoked', reason, revokedAt: now, certificates: revoked },
          });
        }
        return {
          revoked: revoked.map(({ id, fingerprint, serialHex, signingKeyId }) => ({
            id,
            fingerprint,
            serialHex,
            signingKeyId,
          })),
          alreadyRevoked: rows.filter((r) => r.status === 'revoked').map((r) => r.id),
          notFound: unique.filter((id) => !found.has(id)),
        };
      });
    },

    localServerTls,
    trustBundlePem,
  };

  /**
   * A serverAuth certificate for the given host names from the Active key, kept in the database
   * so that replicas and restarts share it, and replaced with a third of its validity left or
   * once its issuer has left the trust bundle.
   */
  async function localServerTls(
    hostnames: string[],
    attempt = 1,
  ): Promise<{ certPem: string; keyPem: string; caPem: string }> {
    const names = [...new Set(hostnames.map((h) => h.trim().toLowerCase()).filter(Boolean))].sort();
    if (names.length === 0) throw new PkiError('invalid_argument', 'at least one host name is needed');
    const key = names.join(',');
    const now = clock.now();
    const trusted = new Set((await signingKeys.trusted()).map((k) => k.id));
    const existing = await getServerTls(db, key);
    const fresh =
      existing &&
      trusted.has(existing.signing_key_id) &&
      existing.not_after.getTime() - now.getTime() >
        (existing.not_after.getTime() - existing.not_before.getTime()) / 3;
    if (existing && fresh) {
      return {
        certPem: pemEncode(existing.cert_der, 'CERTIFICATE'),
        keyPem: await deps.keys.openToString(existing.key_pem, `ca_server_tls:key_pem:${existing.id}`),
        caPem: await trustBundlePem(),
      };
    }

    const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const issuer = await signingKeys.activeIssuer();
    const cert = await sign(issuer, {
      spki: publicKey.export({ format: 'der', type: 'spki' }),
      subject: commonNameDn(names[0]!),
      sans: { dns: names.filter((n) => isIP(n) === 0), ips: names.filter((n) => isIP(n) !== 0) },
      eku: ['serverAuth'],
      lifetimeMs: settings.serverCertLifetimeMs,
    });
    const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const id = ids.uuid();
    const sealedKey = await deps.keys.sealToString(keyPem, `ca_server_tls:key_pem:${id}`);
    const actx = systemAuditContext(DEFAULT_TENANT_ID, 'pki-local-tls');
    const stored = await withTenant(db, DEFAULT_TENANT_ID, async (tx) => {
      if (existing) await deleteServerTls(tx, existing.id);
      const inserted = await insertServerTls(tx, {
        id,
        hostnames: key,
        signing_key_id: cert.signingKeyId,
        key_pem: sealedKey,
        cert_der: cert.certDer,
        not_before: cert.notBefore,
        not_after: cert.notAfter,
      });
      if (!inserted) return false;
      const certId = await record(tx, cert, {
        tenantId: DEFAULT_TENANT_ID,
        agentId: null,
        kind: 'server-tls',
      });
      await audit.record(tx, actx, {
        action: 'pki.server-tls.issue',
        entity: { type: 'certificate', id: certId },
        after: { hostnames: names, fingerprint: cert.fingerprint, notAfter: cert.notAfter },
      });
      return true;
    });
    // Another replica stored one at the same moment: use theirs, so every replica serves one.
    if (!stored) {
      if (attempt >= 3) throw new Error('could not store the local server certificate');
      return localServerTls(hostnames, attempt + 1);
    }
    return { certPem: cert.certPem, keyPem, caPem: await trustBundlePem() };
  }

  /** Every CA certificate of the Active and Trusted keys, with the chains above imported ones. */
  async function trustBundlePem(): Promise<string> {
    const seen = new Set<string>();
    let pem = '';
    for (const k of await signingKeys.trusted()) {
      for (const block of pemDecodeAll(signingKeys.issuerOf(k).chainPem)) {
        const fingerprint = fingerprintSha256(block.der);
        if (seen.has(fingerprint)) continue;
        seen.add(fingerprint);
        pem += pemEncode(block.der, 'CERTIFICATE');
      }
    }
    return pem;
  }
}

export type Certificates = ReturnType<typeof createCertificates>;
