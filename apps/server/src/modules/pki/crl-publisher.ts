import { buildCrl, type Issuer, type RevocationReason } from '@ampora/pki';
import type { Clock, Database } from '@ampora/db';
import type { Logger } from '../../observability/logger.js';
import {
  allocateCrlNumber,
  ensureCrlState,
  getCrl,
  lockCrlState,
  revokedEntries,
  storeCrl,
  tryAdvisoryXactLock,
} from './pki-queries.js';

export interface CrlPublisherDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  /** thisUpdate → nextUpdate. */
  nextUpdateMs: number;
  issuerFor(signingKeyId: string): Promise<Issuer>;
  /** Told of every CRL this instance stores (for the metrics). */
  onStored(signingKeyId: string, crl: { number: number; nextUpdate: Date }): void;
}

export interface PublishedCrl {
  number: number;
  /** False when a higher-numbered CRL was stored meanwhile (it covers at least as much). */
  stored: boolean;
}

/** A scheduled round skips a key whose number was taken this recently and is not stored yet. */
const IN_FLIGHT_MS = 60_000;

/**
 * Publishes each signing key's CRL into `crl_state`, from where the endpoints serve it without
 * signing per request.
 *
 * The CRL number is taken under the row lock of `crl_state` in a short transaction that also reads
 * the revoked entries, so a higher number always comes with an equal or newer view of revocations.
 * Signing then happens outside any transaction, and the result is stored only if no higher number
 * was stored meanwhile.
 */
export function createCrlPublisher(deps: CrlPublisherDeps) {
  async function sign(signingKeyId: string, number: number, entries: Entry[], now: Date) {
    const nextUpdate = new Date(now.getTime() + deps.nextUpdateMs);
    const der = await buildCrl({
      issuer: await deps.issuerFor(signingKeyId),
      thisUpdate: now,
      nextUpdate,
      crlNumber: BigInt(number),
      revoked: entries.map((e) => ({
        serial: e.serial_hex,
        revokedAt: e.revoked_at!,
        reason: (e.reason ?? 'unspecified') as RevocationReason,
      })),
    });
    const stored = await storeCrl(deps.db, signingKeyId, { number, der, thisUpdate: now, nextUpdate });
    if (stored) deps.onStored(signingKeyId, { number, nextUpdate });
    return { number, stored };
  }

  type Entry = Awaited<ReturnType<typeof revokedEntries>>[number];

  return {
    /** Publishes now, whatever the state: after a revocation or a key change. */
    async publish(signingKeyId: string): Promise<PublishedCrl> {
      await ensureCrlState(deps.db, signingKeyId);
      const now = deps.clock.now();
      const { number, entries } = await deps.db.transaction().execute(async (tx) => {
        await lockCrlState(tx, signingKeyId);
        return {
          number: await allocateCrlNumber(tx, signingKeyId, now),
          entries: await revokedEntries(tx, signingKeyId, now),
        };
      });
      return sign(signingKeyId, number, entries, now);
    },

    /**
     * Publishes when the stored CRL has less than a third of its validity left (or none exists).
     * Called on a timer by every replica; the advisory lock and the in-flight check make one of
     * them do the work per round. Under the HA leader lease (a later release) only the leader will
     * run this, and its writes will carry the lease's fencing token.
     */
    async publishIfDue(signingKeyId: string): Promise<PublishedCrl | undefined> {
      await ensureCrlState(deps.db, signingKeyId);
      const now = deps.clock.now();
      const claim = await deps.db.transaction().execute(async (tx) => {
        if (!(await tryAdvisoryXactLock(tx, `ampora:pki:crl:${signingKeyId}`))) return undefined;
        const state = await lockCrlState(tx, signingKeyId);
        const refreshAt = state.next_update ? state.next_update.getTime() - deps.nextUpdateMs / 3 : 0;
        if (state.der && now.getTime() < refreshAt) return undefined;
        const inFlight =
          state.allocated_at !== null &&
          state.crl_number > (state.published_number ?? 0) &&
          now.getTime() - state.allocated_at.getTime() < IN_FLIGHT_MS;
        if (inFlight) return undefined;
        return {
          number: await allocateCrlNumber(tx, signingKeyId, now),
          entries: await revokedEntries(tx, signingKeyId, now),
        };
      });
      if (!claim) return undefined;
      const published = await sign(signingKeyId, claim.number, claim.entries, now);
      deps.logger.debug({ signingKeyId, crlNumber: published.number }, 'CRL published');
      return published;
    },

    /** The stored CRL of a key, or undefined when none has been published. */
    async current(signingKeyId: string) {
      const row = await getCrl(deps.db, signingKeyId);
      if (!row?.der || !row.this_update || !row.next_update || row.published_number === null)
        return undefined;
      return {
        der: row.der,
        number: row.published_number,
        thisUpdate: row.this_update,
        nextUpdate: row.next_update,
      };
    },
  };
}

export type CrlPublisher = ReturnType<typeof createCrlPublisher>;
