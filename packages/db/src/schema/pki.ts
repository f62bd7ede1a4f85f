import type { ColumnType, Generated } from 'kysely';
import type { CreatedAt, Timestamp } from './core.js';

export type SigningKeyState = 'draft' | 'active' | 'trusted' | 'retired';
export type CertificateKindColumn = 'agent' | 'ocsp-responder' | 'server-tls';

/** A nullable timestamptz column. */
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface CaSigningKeysTable {
  id: string;
  state: SigningKeyState;
  algorithm: string;
  key_spec: string;
  provider: string;
  key_ref: string;
  source: 'generated' | 'imported';
  subject: string | null;
  cert_der: Buffer | null;
  fingerprint: string | null;
  chain_pem: Generated<string>;
  not_before: NullableTimestamp;
  not_after: NullableTimestamp;
  created_at: CreatedAt;
  activated_at: NullableTimestamp;
  trusted_until: NullableTimestamp;
  retired_at: NullableTimestamp;
}

export interface CaOcspRespondersTable {
  signing_key_id: string;
  serial_hex: string;
  algorithm: string;
  provider: string;
  key_ref: string;
  cert_der: Buffer;
  not_before: Timestamp;
  not_after: Timestamp;
  updated_at: Timestamp;
}

export interface CertificatesTable {
  tenant_id: string;
  id: string;
  serial_hex: string;
  fingerprint: string;
  kind: CertificateKindColumn;
  agent_id: string | null;
  subject: string;
  signing_key_id: string;
  cert_der: Buffer;
  not_before: Timestamp;
  not_after: Timestamp;
  status: Generated<'active' | 'revoked'>;
  revoked_at: NullableTimestamp;
  revocation_reason: string | null;
  created_at: CreatedAt;
}

export interface CertificateStatusTable {
  signing_key_id: string;
  serial_hex: string;
  fingerprint: string;
  owner_tenant: string | null;
  status: 'good' | 'revoked';
  revoked_at: NullableTimestamp;
  reason: string | null;
  not_after: Timestamp;
}

export interface CrlStateTable {
  signing_key_id: string;
  crl_number: Generated<number>;
  allocated_at: NullableTimestamp;
  published_number: number | null;
  this_update: NullableTimestamp;
  next_update: NullableTimestamp;
  der: Buffer | null;
}

export interface CaServerTlsTable {
  id: string;
  hostnames: string;
  signing_key_id: string;
  key_pem: string;
  cert_der: Buffer;
  not_before: Timestamp;
  not_after: Timestamp;
  created_at: CreatedAt;
}

export interface PkiTables {
  ca_signing_keys: CaSigningKeysTable;
  ca_ocsp_responders: CaOcspRespondersTable;
  certificates: CertificatesTable;
  certificate_status: CertificateStatusTable;
  crl_state: CrlStateTable;
  ca_server_tls: CaServerTlsTable;
}
