import type { ColumnType } from 'kysely';
import type { Timestamp } from './core.js';

/** A nullable timestamptz column. */
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type KeyOrigin = 'csr' | 'server';
export type CredentialState = 'pending' | 'current' | 'superseded';

export interface EnrollmentTokensTable {
  tenant_id: string;
  id: string;
  token_hash: string;
  label: string;
  initial_group: string | null;
  pool_id: string | null;
  created_by: string;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface EnrollmentRedemptionsTable {
  tenant_id: string;
  token_hash: string;
  token_id: string;
  agent_id: string;
  redeemed_at: Timestamp;
}

export interface EnrollmentPoolsTable {
  tenant_id: string;
  id: string;
  name: string;
  secret_hash: string;
  token_ttl_seconds: number;
  default_group: string | null;
  created_by: string;
  created_at: Timestamp;
  /** The secret hash a rotation replaced, accepted until `previous_secret_expires_at`. */
  previous_secret_hash: string | null;
  previous_secret_expires_at: NullableTimestamp;
  secret_rotated_at: NullableTimestamp;
}

export interface AgentIdentitiesTable {
  tenant_id: string;
  id: string;
  instance_uid: Buffer;
  initial_group: string | null;
  key_origin: KeyOrigin;
  token_id: string | null;
  enrolled_at: Timestamp;
}

export interface AgentCredentialsTable {
  tenant_id: string;
  fingerprint: string;
  agent_id: string;
  serial_hex: string;
  state: CredentialState;
  key_origin: KeyOrigin;
  not_before: Timestamp;
  not_after: Timestamp;
  issued_at: Timestamp;
  activated_at: NullableTimestamp;
  superseded_at: NullableTimestamp;
}

export interface EnrollmentTables {
  enrollment_tokens: EnrollmentTokensTable;
  enrollment_redemptions: EnrollmentRedemptionsTable;
  enrollment_pools: EnrollmentPoolsTable;
  agent_identities: AgentIdentitiesTable;
  agent_credentials: AgentCredentialsTable;
}
