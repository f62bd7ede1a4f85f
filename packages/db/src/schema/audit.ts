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

/** Install-wide: one key signs the checkpoints of every tenant. Rows are never deleted. */
export interface AuditSigningKeysTable {
  key_id: string;
  algorithm: 'ed25519';
  /** SubjectPublicKeyInfo DER. */
  public_key: Buffer;
  /** PKCS#8 DER, sealed by the key protector. */
  private_key: string;
  status: 'active' | 'retired';
  created_at: Date;
  retired_at: Date | null;
}

export interface AuditTables {
  audit_events: AuditEventsTable;
  /** Written only by the `audit_retention_sweep` database function. */
  audit_events_archive: AuditEventsTable;
  audit_chain_heads: AuditChainHeadsTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_signing_keys: AuditSigningKeysTable;
}
