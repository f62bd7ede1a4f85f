import type { Insertable, Selectable } from 'kysely';
import type { DB, Tx } from '@ampora/db';

type ApprovalRequestsTable = DB['approval_requests'];

export type ApprovalRow = Selectable<ApprovalRequestsTable>;
export type ApprovalStatus = ApprovalRow['status'];

// Every function here runs in a withTenant transaction: RLS limits it to the caller's tenant.

export function insertApproval(tx: Tx, row: Insertable<ApprovalRequestsTable>) {
  return tx.insertInto('approval_requests').values(row).returningAll().executeTakeFirstOrThrow();
}

export function getApproval(tx: Tx, id: string) {
  return tx.selectFrom('approval_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks the request until the transaction ends, so two decisions on it queue up. */
export function lockApproval(tx: Tx, id: string) {
  return tx.selectFrom('approval_requests').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** The request for the entity that is pending and has not expired at `now`. */
export function pendingApprovalFor(tx: Tx, kind: string, entityId: string, now: Date) {
  return tx
    .selectFrom('approval_requests')
    .selectAll()
    .where('kind', '=', kind)
    .where('entity_id', '=', entityId)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

/**
 * Stores `expired` on the entity's pending requests that expired by `now`, so that the
 * one-pending-per-entity index lets a new request in; returns the rows it changed.
 */
export function expireLapsedApprovals(tx: Tx, kind: string, entityId: string, now: Date) {
  return tx
    .updateTable('approval_requests')
    .set({ status: 'expired' })
    .where('kind', '=', kind)
    .where('entity_id', '=', entityId)
    .where('status', '=', 'pending')
    .where('expires_at', '<=', now)
    .returningAll()
    .execute();
}

export interface ApprovalFilter {
  status?: ApprovalStatus;
  /** Where `pending` ends and `expired` begins: a stored `pending` past its expiry is expired. */
  now: Date;
  kind?: string;
  limit: number;
  /** The last row of the previous page (newest first). */
  after?: { at: Date; id: string };
}

export function listApprovals(tx: Tx, f: ApprovalFilter) {
  let q = tx
    .selectFrom('approval_requests')
    .selectAll()
    .orderBy('requested_at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit);
  const { status, now } = f;
  if (status === 'pending') {
    q = q.where('status', '=', 'pending').where('expires_at', '>', now);
  } else if (status === 'expired') {
    q = q.where((eb) =>
      eb.or([
        eb('status', '=', 'expired'),
        eb.and([eb('status', '=', 'pending'), eb('expires_at', '<=', now)]),
      ]),
    );
  } else if (status) {
    q = q.where('status', '=', status);
  }
  if (f.kind) q = q.where('kind', '=', f.kind);
  const after = f.after;
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb('requested_at', '<', after.at),
        eb.and([eb('requested_at', '=', after.at), eb('id', '<', after.id)]),
      ]),
    );
  }
  return q.execute();
}

/**
 * Closes a pending request that has not expired at `close.at`; returns the row as it is now, or
 * undefined when it was not pending.
 */
export function closeApproval(
  tx: Tx,
  id: string,
  close: {
    status: Exclude<ApprovalStatus, 'pending' | 'expired'>;
    by: { identity: string; kind: ApprovalRow['requested_by_kind']; id: string; name: string };
    at: Date;
    reason: string | null;
  },
) {
  return tx
    .updateTable('approval_requests')
    .set({
      status: close.status,
      decided_by_identity: close.by.identity,
      decided_by_kind: close.by.kind,
      decided_by_id: close.by.id,
      decided_by_name: close.by.name,
      decided_at: close.at,
      reason: close.reason,
    })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('expires_at', '>', close.at)
    .returningAll()
    .executeTakeFirst();
}
