import { withTenant } from '@ampora/db';
import type { ServerContext } from '../../runtime/context.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import { lockCertificates, markRevoked, statusByFingerprint } from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type { RevocationStatus } from './pki-types.js';

export interface CertificateRevocationDeps extends Pick<ServerContext, 'db' | 'clock' | 'audit'> {
  settings: PkiSettings;
}

const STATUS_CACHE_MAX = 100_000;

export interface RevocationOutcome {
  revoked: Array<{ id: string; fingerprint: string; serialHex: string; signingKeyId: string }>;
  alreadyRevoked: string[];
  notFound: string[];
}

/**
 * Revoking certificates, and the revocation status every mTLS handshake asks for. Status answers
 * are cached briefly; the caller forgets the revoked fingerprints once the revocation commits.
 */
export function createCertificateRevocation(deps: CertificateRevocationDeps) {
  const { db, clock, audit, settings } = deps;
  const statusCache = new Map<string, { value: RevocationStatus; until: number }>();

  return {
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
  };
}

export type CertificateRevocation = ReturnType<typeof createCertificateRevocation>;
