import type { ColumnType } from 'kysely';
import type { Timestamp } from './core.js';

/** A JSON value as `pg` parses a jsonb column. */
export type AuditJson = ColumnType<unknown, string | null, never>;

/** Rows are append-only: nothing in an audit event can be updated. */
type Fixed<T> = ColumnType<T, T, never>;

export interface AuditEventsTable {
  id: Fixed<string>;
  tenant_id: Fixed<string>;
  seq: Fixed<number>;
  version: Fixed<number>;
  prev_hash: Fixed<string>;
  hash: Fixed<string>;
  time: ColumnType<Date, Date, never>;
  actor_kind: Fixed<string>;
  actor_id: Fixed<string>;
  actor_name: Fixed<string>;
  action: Fixed<string>;
  entity_type: Fixed<string>;
  entity_id: Fixed<string | null>;
  before: AuditJson;
  after: AuditJson;
  outcome: Fixed<string>;
  source_ip: Fixed<string | null>;
  user_agent: Fixed<string | null>;
  request_id: Fixed<string | null>;
}

export interface AuditChainHeadsTable {
  tenant_id: Fixed<string>;
  seq: number;
  hash: string;
}

export interface AuditCheckpointsTable {
  tenant_id: Fixed<string>;
  seq: Fixed<number>;
  head_hash: Fixed<string>;
  count: Fixed<number>;
  time: Timestamp;
  key_id: Fixed<string>;
  signature: Fixed<Buffer>;
}

export interface AuditTables {
  audit_events: AuditEventsTable;
  /** Written only by the `audit_retention_sweep` database function. */
  audit_events_archive: AuditEventsTable;
  audit_chain_heads: AuditChainHeadsTable;
  audit_checkpoints: AuditCheckpointsTable;
}
