import type { Database } from '@ampora/db';
import type { Logger } from '../../observability/logger.js';
import { newestRevocation, revokedSince } from './pki-queries.js';

export interface FedRevocation {
  /** Null for a certificate no tenant owns (the listener's own TLS certificate). */
  tenantId: string | null;
  fingerprint: string;
  serialHex: string;
}

/**
 * A revocation is committed by whichever replica the operator reached, but the revoked agent may
 * hold a live session on another one. Each replica therefore reads, every few seconds, the
 * revocations made since its last read and acts on those it has not announced itself.
 *
 * `revoked_at` comes from the revoking replica's clock and is written before its COMMIT, so a read
 * goes back `overlapMs` before the newest revocation already seen: a revocation that committed
 * late is still found, and one seen twice is announced once.
 */
export function createRevocationFeed(deps: {
  db: Database;
  logger: Logger;
  overlapMs?: number;
  batch?: number;
}) {
  const overlapMs = deps.overlapMs ?? 60_000;
  const batch = deps.batch ?? 10_000;
  /** Newest revoked_at read so far; undefined until the first read sets where the feed starts. */
  let watermark: Date | undefined;
  /** Fingerprints announced within the overlap window, with their revocation time. */
  const announced = new Map<string, number>();

  function forgetOlderThan(cutoff: number) {
    for (const [fingerprint, at] of announced) if (at < cutoff) announced.delete(fingerprint);
  }

  return {
    /** Revocations this replica made and announced itself: not announced again. */
    markAnnounced(fingerprints: readonly string[], at: Date) {
      for (const fingerprint of fingerprints) announced.set(fingerprint, at.getTime());
    },

    /**
     * Revocations made since the previous read that this replica has not announced. The first
     * read only finds where to start: before it, this replica had no sessions or cached status.
     */
    async poll(): Promise<FedRevocation[]> {
      if (!watermark) {
        watermark = (await newestRevocation(deps.db)) ?? new Date(0);
        return [];
      }
      const since = new Date(watermark.getTime() - overlapMs);
      const rows = await revokedSince(deps.db, since, batch);
      if (rows.length === batch) {
        deps.logger.warn({ batch }, 'more revocations than one read takes; the rest follow in the next');
      }
      const fresh: FedRevocation[] = [];
      for (const row of rows) {
        const at = row.revoked_at!.getTime();
        if (at > watermark.getTime()) watermark = row.revoked_at!;
        if (announced.has(row.fingerprint)) continue;
        announced.set(row.fingerprint, at);
        fresh.push({ tenantId: row.owner_tenant, fingerprint: row.fingerprint, serialHex: row.serial_hex });
      }
      forgetOlderThan(watermark.getTime() - 2 * overlapMs);
      return fresh;
    },
  };
}

export type RevocationFeed = ReturnType<typeof createRevocationFeed>;
