import { sql } from 'kysely';
import { DEFAULT_TENANT_ID, withTenant } from '@ampora/db';
import type { ServerContext } from '../../runtime/context.js';
import { systemAuditContext, type AuditContext } from '../audit/audit-recorder.js';
import { activateKey, getActiveKey } from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import { keyAuditFacts } from './signing-key-activation.js';
import { storeCaCertificate, type CaRow, type SigningKeyDrafts } from './signing-key-drafts.js';
import type { SigningKeys } from './signing-keys-service.js';

export interface SigningKeyBootstrapDeps extends Pick<ServerContext, 'db' | 'clock' | 'audit' | 'logger'> {
  settings: PkiSettings;
  drafts: Pick<SigningKeyDrafts, 'generateCa'>;
  signingKeys: Pick<SigningKeys, 'invalidate'>;
}

/** The first CA signing key, created and made Active when a server starts with none. */
export function createSigningKeyBootstrap(deps: SigningKeyBootstrapDeps) {
  const { db, clock, audit, settings } = deps;

  /**
   * The bootstrap's activation: stores the new key's certificate and makes it Active in one
   * audited transaction, with no approval (see {@link bootstrap} for why).
   */
  async function activateNow(actx: AuditContext, row: CaRow) {
    const now = clock.now();
    const trustedUntil = new Date(now.getTime() + settings.trustedWindowMs);
    await withTenant(db, actx.tenantId, async (tx) => {
      await storeCaCertificate(tx, row);
      const previous = await activateKey(tx, row.id, now, trustedUntil);
      await audit.record(tx, actx, {
        action: 'pki.signing-key.bootstrap',
        entity: { type: 'signing-key', id: row.id },
        before: { activeKeyId: previous ?? null },
        after: { activeKeyId: row.id, ...keyAuditFacts(row) },
      });
    });
    deps.signingKeys.invalidate();
  }

  /**
   * First start: with no Active key, generate one and make it Active at once. This is the one
   * activation without a second Admin: no person is involved, there is nothing to approve it
   * against (no key exists, so nothing is being replaced), and until a CA exists no agent can
   * enroll and the OpAMP listener has no TLS certificate. Every later key is a Draft until
   * approved. A session advisory lock keeps two replicas starting together from both creating a
   * CA; the loser finds the winner's key afterwards.
   */
  async function bootstrap(): Promise<string | undefined> {
    if (await getActiveKey(db)) return undefined;
    return db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(hashtextextended('ampora:pki:bootstrap', 0))`.execute(conn);
      try {
        if (await getActiveKey(db)) return undefined;
        const actx = systemAuditContext(DEFAULT_TENANT_ID, 'pki-bootstrap');
        const row = await deps.drafts.generateCa(actx, settings.keyAlgorithm);
        await activateNow(actx, row);
        deps.logger.info({ signingKeyId: row.id, keySpec: row.key_spec }, 'created the CA signing key');
        return row.id;
      } finally {
        await sql`select pg_advisory_unlock(hashtextextended('ampora:pki:bootstrap', 0))`.execute(conn);
      }
    });
  }

  return { bootstrap };
}
