import type { ServerContext } from '../../runtime/context.js';
import type { PkiMetrics } from './pki-metrics.js';
import { keyValidity } from './pki-queries.js';

export interface PkiGaugesDeps extends Pick<ServerContext, 'db' | 'logger' | 'clock'> {
  metrics: Pick<PkiMetrics, 'signingKeyNotAfter' | 'ocspResponderNotAfter' | 'crlNextUpdate' | 'crlNumber'>;
}

interface KeyValues {
  state: string;
  notAfter: Date | null;
  responderNotAfter: Date | null;
  crlNumber: number | null;
  crlNextUpdate: Date | null;
}

const seconds = (d: Date) => d.getTime() / 1000;

/**
 * The PKI gauges, held in memory so that a scrape never reaches the database. They are read from
 * the database by {@link PkiGauges.refresh} (every maintenance round, and after a key changes
 * state) and moved forward by {@link PkiGauges.crlStored} whenever this instance stores a CRL.
 * A Retired key is shown (with `state="retired"`) while it still publishes CRLs, that is until its
 * last certificate expires; a refresh that no longer finds a key drops all its series.
 */
export function createPkiGauges(deps: PkiGaugesDeps) {
  const { db, logger, metrics, clock } = deps;
  let keys = new Map<string, KeyValues>();
  let started = 0;
  let applied = 0;

  /** Rebuilds every series in one synchronous step, so a scrape sees the old set or the new one. */
  function render() {
    metrics.signingKeyNotAfter.reset();
    metrics.ocspResponderNotAfter.reset();
    metrics.crlNextUpdate.reset();
    metrics.crlNumber.reset();
    for (const [key_id, k] of keys) {
      if (k.notAfter) metrics.signingKeyNotAfter.set({ key_id, state: k.state }, seconds(k.notAfter));
      if (k.responderNotAfter) metrics.ocspResponderNotAfter.set({ key_id }, seconds(k.responderNotAfter));
      if (k.crlNumber !== null && k.crlNextUpdate) {
        metrics.crlNumber.set({ key_id }, k.crlNumber);
        metrics.crlNextUpdate.set({ key_id }, seconds(k.crlNextUpdate));
      }
    }
  }

  return {
    /**
     * Reads the gauges' values from the database. Never throws: on failure the previous values stay,
     * and a CRL that is not republished then shows as one whose nextUpdate has passed.
     */
    async refresh(): Promise<void> {
      const round = ++started;
      let rows;
      try {
        rows = await keyValidity(db, clock.now());
      } catch (err) {
        logger.warn({ err }, 'PKI gauges not refreshed');
        return;
      }
      // Refreshes started later may have finished first; their view is the newer one.
      if (round < applied) return;
      applied = round;
      const next = new Map<string, KeyValues>();
      for (const r of rows) {
        const shown = keys.get(r.id);
        // A CRL this instance stored after the query began is newer than the one the query read.
        const newerCrl =
          shown !== undefined &&
          shown.crlNumber !== null &&
          (r.crl_number === null || shown.crlNumber > r.crl_number);
        next.set(r.id, {
          state: r.state,
          notAfter: r.not_after,
          responderNotAfter: r.responder_not_after,
          crlNumber: newerCrl ? shown.crlNumber : r.crl_number,
          crlNextUpdate: newerCrl ? shown.crlNextUpdate : r.crl_next_update,
        });
      }
      keys = next;
      render();
    },

    /** A CRL this instance has just stored; keys not shown are left out until the next refresh. */
    crlStored(signingKeyId: string, crl: { number: number; nextUpdate: Date }) {
      const k = keys.get(signingKeyId);
      if (!k || (k.crlNumber !== null && k.crlNumber >= crl.number)) return;
      k.crlNumber = crl.number;
      k.crlNextUpdate = crl.nextUpdate;
      metrics.crlNumber.set({ key_id: signingKeyId }, crl.number);
      metrics.crlNextUpdate.set({ key_id: signingKeyId }, seconds(crl.nextUpdate));
    },
  };
}

export type PkiGauges = ReturnType<typeof createPkiGauges>;
