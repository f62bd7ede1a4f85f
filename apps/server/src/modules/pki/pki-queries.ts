import { sql, type ExpressionBuilder, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { DB, Tx } from '@ampora/db';

type CaSigningKeysTable = DB['ca_signing_keys'];
type CaOcspRespondersTable = DB['ca_ocsp_responders'];
type CertificatesTable = DB['certificates'];
type CertificateStatusTable = DB['certificate_status'];
type CaServerTlsTable = DB['ca_server_tls'];

/** Either the pool or a transaction: install-wide tables need no tenant context. */
type Q = Kysely<DB> | Tx;

export type SigningKeyRow = Selectable<CaSigningKeysTable>;
export type ResponderRow = Selectable<CaOcspRespondersTable>;
export type CertificateRow = Selectable<CertificatesTable>;
export type StatusRow = Selectable<CertificateStatusTable>;
export type ServerTlsRow = Selectable<CaServerTlsTable>;

/** A published key: its certificate is set. */
export type PublishedKeyRow = SigningKeyRow & { cert_der: Buffer; not_before: Date; not_after: Date };

// ---- signing keys ----

export function insertSigningKey(tx: Q, row: Insertable<CaSigningKeysTable>) {
  return tx.insertInto('ca_signing_keys').values(row).execute();
}

export function getSigningKey(q: Q, id: string) {
  return q.selectFrom('ca_signing_keys').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listSigningKeys(q: Q) {
  return q
    .selectFrom('ca_signing_keys')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

export async function getActiveKey(q: Q): Promise<PublishedKeyRow | undefined> {
  const row = await q
    .selectFrom('ca_signing_keys')
    .selectAll()
    .where('state', '=', 'active')
    .executeTakeFirst();
  return row as PublishedKeyRow | undefined;
}

/** Active and Trusted keys: the trust bundle. */
export async function trustedKeys(q: Q): Promise<PublishedKeyRow[]> {
  const rows = await q
    .selectFrom('ca_signing_keys')
    .selectAll()
    .where('state', 'in', ['active', 'trusted'])
    .orderBy('activated_at', 'desc')
    .execute();
  return rows as PublishedKeyRow[];
}

/** Whether signing key `k` issued a certificate that has not expired by `now`. */
function hasValidCertificates(eb: ExpressionBuilder<DB & { k: CaSigningKeysTable }, 'k'>, now: Date) {
  return eb.exists(
    eb
      .selectFrom('certificate_status as s')
      .select(sql`1`.as('one'))
      .whereRef('s.signing_key_id', '=', 'k.id')
      .where('s.not_after', '>', now),
  );
}

/**
 * Keys whose revocation data is still published: Active, Trusted, and Retired keys that have a
 * certificate not yet expired.
 */
export async function publishingKeys(q: Q, now: Date): Promise<PublishedKeyRow[]> {
  const rows = await q
    .selectFrom('ca_signing_keys as k')
    .selectAll('k')
    .where((eb) =>
      eb.or([
        eb('k.state', 'in', ['active', 'trusted']),
        eb.and([eb('k.state', '=', 'retired'), hasValidCertificates(eb, now)]),
      ]),
    )
    .execute();
  return rows as PublishedKeyRow[];
}

/**
 * Makes `id` the Active key; the current Active key becomes Trusted until `trustedUntil`. Returns
 * the previous key's id. Activations queue up on an advisory lock: a row lock on the Active key
 * would not do, since a waiting transaction would then find no Active key at all (the row it
 * waited for is Trusted by then) and violate the one-Active index.
 */
export async function activateKey(
  tx: Tx,
  id: string,
  now: Date,
  trustedUntil: Date,
): Promise<string | undefined> {
  await sql`select pg_advisory_xact_lock(hashtextextended('ampora:pki:activate', 0))`.execute(tx);
  const previous = await tx
    .selectFrom('ca_signing_keys')
    .select('id')
    .where('state', '=', 'active')
    .forUpdate()
    .executeTakeFirst();
  if (previous) {
    await tx
      .updateTable('ca_signing_keys')
      .set({ state: 'trusted', trusted_until: trustedUntil })
      .where('id', '=', previous.id)
      .execute();
  }
  const promoted = await tx
    .updateTable('ca_signing_keys')
    .set({ state: 'active', activated_at: now })
    .where('id', '=', id)
    .where('state', '=', 'draft')
    .executeTakeFirst();
  if (promoted.numUpdatedRows !== 1n) throw new Error(`signing key ${id} is not a draft`);
  return previous?.id;
}

export function setKeyCertificate(
  tx: Q,
  id: string,
  cert: { der: Buffer; subject: string; fingerprint: string; notBefore: Date; notAfter: Date },
) {
  return tx
    .updateTable('ca_signing_keys')
    .set({
      cert_der: cert.der,
      subject: cert.subject,
      fingerprint: cert.fingerprint,
      not_before: cert.notBefore,
      not_after: cert.notAfter,
    })
    .where('id', '=', id)
    .execute();
}

export function lockSigningKey(tx: Tx, id: string) {
  return tx.selectFrom('ca_signing_keys').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function retireKey(tx: Tx, id: string, now: Date) {
  return tx
    .updateTable('ca_signing_keys')
    .set({ state: 'retired', retired_at: now })
    .where('id', '=', id)
    .where('state', 'in', ['draft', 'trusted'])
    .returning(['id'])
    .executeTakeFirst();
}

/** Trusted keys whose window has passed, locked, for retirement. */
export function lapsedTrustedKeys(tx: Tx, now: Date) {
  return tx
    .selectFrom('ca_signing_keys')
    .select(['id', 'trusted_until', 'subject'])
    .where('state', '=', 'trusted')
    .where('trusted_until', '<=', now)
    .forUpdate()
    .skipLocked()
    .execute();
}

// ---- OCSP responders ----

export function listResponders(q: Q) {
  return q.selectFrom('ca_ocsp_responders').selectAll().execute();
}

export function lockResponder(tx: Tx, signingKeyId: string) {
  return tx
    .selectFrom('ca_ocsp_responders')
    .selectAll()
    .where('signing_key_id', '=', signingKeyId)
    .forUpdate()
    .executeTakeFirst();
}

export function upsertResponder(tx: Tx, row: Insertable<CaOcspRespondersTable>) {
  return tx
    .insertInto('ca_ocsp_responders')
    .values(row)
    .onConflict((oc) =>
      oc.column('signing_key_id').doUpdateSet({
        serial_hex: row.serial_hex,
        algorithm: row.algorithm,
        provider: row.provider,
        key_ref: row.key_ref,
        cert_der: row.cert_der,
        not_before: row.not_before,
        not_after: row.not_after,
        updated_at: row.updated_at,
      }),
    )
    .execute();
}

// ---- certificates (tenant-owned; callers pass a withTenant transaction) ----

export interface CertificateFilter {
  kind?: CertificatesTable['kind'];
  status?: 'active' | 'revoked' | 'expired';
  agentId?: string;
  after?: string;
  limit: number;
  now: Date;
}

const CERTIFICATE_COLUMNS = [
  'id',
  'serial_hex',
  'fingerprint',
  'kind',
  'agent_id',
  'subject',
  'signing_key_id',
  'not_before',
  'not_after',
  'status',
  'revoked_at',
  'revocation_reason',
  'created_at',
] as const;

export type CertificateSummaryRow = Pick<CertificateRow, (typeof CERTIFICATE_COLUMNS)[number]>;

export function listCertificates(tx: Tx, f: CertificateFilter) {
  let q = tx.selectFrom('certificates').select(CERTIFICATE_COLUMNS).orderBy('id').limit(f.limit);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.agentId) q = q.where('agent_id', '=', f.agentId);
  if (f.status === 'revoked') q = q.where('status', '=', 'revoked');
  if (f.status === 'active') q = q.where('status', '=', 'active').where('not_after', '>', f.now);
  if (f.status === 'expired') q = q.where('status', '=', 'active').where('not_after', '<=', f.now);
  if (f.after) q = q.where('id', '>', f.after);
  return q.execute();
}

/** Locks the named certificates visible to the transaction's tenant (others are invisible under RLS). */
export function lockCertificates(tx: Tx, ids: readonly string[]) {
  return tx
    .selectFrom('certificates')
    .select(CERTIFICATE_COLUMNS)
    .where('id', 'in', ids)
    .orderBy('id')
    .forUpdate()
    .execute();
}

export async function markRevoked(
  tx: Tx,
  certs: ReadonlyArray<Pick<CertificateRow, 'id' | 'signing_key_id' | 'serial_hex'>>,
  now: Date,
  reason: string,
) {
  if (certs.length === 0) return;
  await tx
    .updateTable('certificates')
    .set({ status: 'revoked', revoked_at: now, revocation_reason: reason })
    .where(
      'id',
      'in',
      certs.map((c) => c.id),
    )
    .execute();
  const payload = JSON.stringify(certs.map((c) => ({ k: c.signing_key_id, s: c.serial_hex })));
  await sql`
    update certificate_status cs set status = 'revoked', revoked_at = ${now}, reason = ${reason}
    from jsonb_to_recordset(${payload}::jsonb) as x(k uuid, s text)
    where cs.signing_key_id = x.k and cs.serial_hex = x.s`.execute(tx);
}

// ---- revocation data (install-wide) ----

export function statusByFingerprint(q: Q, fingerprint: string) {
  return q
    .selectFrom('certificate_status')
    .selectAll()
    .where('fingerprint', '=', fingerprint)
    .executeTakeFirst();
}

export function statusBySerials(q: Q, signingKeyId: string, serials: readonly string[]) {
  if (serials.length === 0) return Promise.resolve([] as StatusRow[]);
  return q
    .selectFrom('certificate_status')
    .selectAll()
    .where('signing_key_id', '=', signingKeyId)
    .where('serial_hex', 'in', serials)
    .execute();
}

/** Revocations at or after `since`, oldest first: what other replicas revoked lately. */
export function revokedSince(q: Q, since: Date, limit: number) {
  return q
    .selectFrom('certificate_status')
    .select(['fingerprint', 'serial_hex', 'owner_tenant', 'revoked_at'])
    .where('status', '=', 'revoked')
    .where('revoked_at', '>=', since)
    .orderBy('revoked_at')
    .limit(limit)
    .execute();
}

/** When the most recent revocation happened, if any ever did. */
export async function newestRevocation(q: Q): Promise<Date | undefined> {
  const row = await q
    .selectFrom('certificate_status')
    .select((eb) => eb.fn.max('revoked_at').as('newest'))
    .where('status', '=', 'revoked')
    .executeTakeFirst();
  return row?.newest ?? undefined;
}

/** Revoked certificates of a key that have not expired: the CRL's entries. */
export function revokedEntries(q: Q, signingKeyId: string, now: Date) {
  return q
    .selectFrom('certificate_status')
    .select(['serial_hex', 'revoked_at', 'reason'])
    .where('signing_key_id', '=', signingKeyId)
    .where('status', '=', 'revoked')
    .where('not_after', '>', now)
    .orderBy('serial_hex')
    .execute();
}

// ---- CRL state ----

export function ensureCrlState(q: Q, signingKeyId: string) {
  return q
    .insertInto('crl_state')
    .values({ signing_key_id: signingKeyId })
    .onConflict((oc) => oc.column('signing_key_id').doNothing())
    .execute();
}

/** Locks a key's CRL row until `tx` commits; publishers of one key queue up here. */
export function lockCrlState(tx: Tx, signingKeyId: string) {
  return tx
    .selectFrom('crl_state')
    .selectAll()
    .where('signing_key_id', '=', signingKeyId)
    .forUpdate()
    .executeTakeFirstOrThrow();
}

/** Takes the next CRL number; call with the row locked by {@link lockCrlState}. */
export async function allocateCrlNumber(tx: Tx, signingKeyId: string, now: Date): Promise<number> {
  const row = await tx
    .updateTable('crl_state')
    .set((eb) => ({ crl_number: eb('crl_number', '+', 1), allocated_at: now }))
    .where('signing_key_id', '=', signingKeyId)
    .returning('crl_number')
    .executeTakeFirstOrThrow();
  return row.crl_number;
}

/** Stores a CRL unless a higher-numbered one is already stored. Returns whether it was stored. */
export async function storeCrl(
  q: Q,
  signingKeyId: string,
  crl: { number: number; der: Buffer; thisUpdate: Date; nextUpdate: Date },
): Promise<boolean> {
  const result = await q
    .updateTable('crl_state')
    .set({
      published_number: crl.number,
      der: crl.der,
      this_update: crl.thisUpdate,
      next_update: crl.nextUpdate,
    })
    .where('signing_key_id', '=', signingKeyId)
    .where((eb) => eb.or([eb('published_number', 'is', null), eb('published_number', '<', crl.number)]))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export function getCrl(q: Q, signingKeyId: string) {
  return q.selectFrom('crl_state').selectAll().where('signing_key_id', '=', signingKeyId).executeTakeFirst();
}

/**
 * Every key not retired with the validity of its CA certificate, its OCSP responder and its stored
 * CRL: what the PKI gauges show, read once per maintenance round rather than per scrape.
 */
export function keyValidity(q: Q, now: Date) {
  return q
    .selectFrom('ca_signing_keys as k')
    .leftJoin('ca_ocsp_responders as r', 'r.signing_key_id', 'k.id')
    .leftJoin('crl_state as c', 'c.signing_key_id', 'k.id')
    .select([
      'k.id',
      'k.state',
      'k.not_after',
      'r.not_after as responder_not_after',
      'c.published_number as crl_number',
      'c.next_update as crl_next_update',
    ])
    .where((eb) =>
      eb.or([
        eb('k.state', '!=', 'retired'),
        // A Retired key still publishes CRLs and answers OCSP until its last certificate expires.
        hasValidCertificates(eb, now),
      ]),
    )
    .execute();
}

// ---- local server TLS ----

export function getServerTls(q: Q, hostnames: string) {
  return q.selectFrom('ca_server_tls').selectAll().where('hostnames', '=', hostnames).executeTakeFirst();
}

export function deleteServerTls(tx: Tx, id: string) {
  return tx.deleteFrom('ca_server_tls').where('id', '=', id).execute();
}

export async function insertServerTls(tx: Tx, row: Insertable<CaServerTlsTable>): Promise<boolean> {
  const inserted = await tx
    .insertInto('ca_server_tls')
    .values(row)
    .onConflict((oc) => oc.column('hostnames').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** A transaction-scoped advisory lock; false when another session holds it. */
export async function tryAdvisoryXactLock(tx: Tx, name: string): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`
    select pg_try_advisory_xact_lock(hashtextextended(${name}, 0)) as ok`.execute(tx);
  return rows[0]?.ok === true;
}

/** Records an issued certificate and its public status together, in the caller's tenant transaction. */
export async function recordCertificate(
  tx: Tx,
  c: {
    id: string;
    tenantId: string;
    kind: CertificatesTable['kind'];
    agentId: string | null;
    subject: string;
    serialHex: string;
    fingerprint: string;
    certDer: Buffer;
    signingKeyId: string;
    notBefore: Date;
    notAfter: Date;
  },
) {
  // One statement for both rows: this runs inside every enrollment and renewal transaction.
  await tx
    .with('certificate', (db) =>
      db.insertInto('certificates').values({
        tenant_id: c.tenantId,
        id: c.id,
        serial_hex: c.serialHex,
        fingerprint: c.fingerprint,
        kind: c.kind,
        agent_id: c.agentId,
        subject: c.subject,
        signing_key_id: c.signingKeyId,
        cert_der: c.certDer,
        not_before: c.notBefore,
        not_after: c.notAfter,
      }),
    )
    .insertInto('certificate_status')
    .values({
      signing_key_id: c.signingKeyId,
      serial_hex: c.serialHex,
      fingerprint: c.fingerprint,
      owner_tenant: c.tenantId,
      status: 'good',
      not_after: c.notAfter,
    })
    .execute();
}

export function getCertificate(tx: Tx, id: string) {
  return tx.selectFrom('certificates').select(CERTIFICATE_COLUMNS).where('id', '=', id).executeTakeFirst();
}
