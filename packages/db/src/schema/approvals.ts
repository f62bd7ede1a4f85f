import type { ColumnType } from 'kysely';

/** `expired` is stored only when a new request for the same entity replaces a lapsed one. */
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'cancelled' | 'expired';
export type ApprovalActorKind = 'user' | 'pat' | 'system';

/** Set once, when the request is decided or cancelled. */
type Decision<T> = ColumnType<T | null, T | null | undefined, T | null>;

export interface ApprovalRequestsTable {
  tenant_id: ColumnType<string, string, never>;
  id: ColumnType<string, string, never>;
  kind: ColumnType<string, string, never>;
  entity_type: ColumnType<string, string, never>;
  entity_id: ColumnType<string, string, never>;
  status: ApprovalStatus;
  /** Written as JSON text, read back as an object. */
  summary: ColumnType<Record<string, unknown>, string, never>;
  requested_by_identity: ColumnType<string, string, never>;
  requested_by_kind: ColumnType<ApprovalActorKind, ApprovalActorKind, never>;
  requested_by_id: ColumnType<string, string, never>;
  requested_by_name: ColumnType<string, string, never>;
  requested_at: ColumnType<Date, Date | string, never>;
  /** Fixed when the request is made; a pending request is expired from then on. */
  expires_at: ColumnType<Date, Date | string, never>;
  decided_by_identity: Decision<string>;
  decided_by_kind: Decision<ApprovalActorKind>;
  decided_by_id: Decision<string>;
  decided_by_name: Decision<string>;
  decided_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  reason: Decision<string>;
}

export interface ApprovalTables {
  approval_requests: ApprovalRequestsTable;
}
