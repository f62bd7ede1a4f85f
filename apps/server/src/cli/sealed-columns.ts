import { SOFTWARE_SIGNING_KEY_AAD } from '@ampora/keys';
import { auditSigningKeyAad } from '../modules/audit/audit-signing-keys.js';
import { responderAad } from '../modules/pki/ocsp-responder.js';
import { serverTlsKeyAad } from '../modules/pki/server-tls.js';
import { keyRefAad } from '../modules/pki/signing-keys-service.js';
import { ID_TOKEN_AAD } from '../modules/auth/auth-routes.js';

type Row = Record<string, unknown>;

/**
 * A column holding values sealed by the key protector (`amp:v1:` text). `ampora keys rewrap`
 * walks every entry; a module that seals a new column adds its entry here, with exactly the AAD
 * it seals with. Entries whose table or column does not exist yet are skipped.
 */
export interface SealedColumn {
  table: string;
  column: string;
  /** A unique column: rows are walked in its order and updated by it. */
  idColumn: string;
  /** Other columns the AAD is built from. */
  aadColumns?: string[];
  aad(row: Row): string;
  /**
   * When the opened value is itself a sealed value (a software crypto provider's key reference),
   * the AAD that inner value was sealed with; it is rewrapped too, then sealed again.
   */
  innerAad?(row: Row): string;
}

export const SEALED_COLUMNS: SealedColumn[] = [
  {
    table: 'audit_signing_keys',
    column: 'private_key',
    idColumn: 'key_id',
    aad: (r) => auditSigningKeyAad(String(r.key_id)),
  },
  // PKI (migrations/0005_pki.sql): key references are sealed per row; for the software provider
  // the reference is itself the private key sealed with the provider's fixed AAD.
  {
    table: 'ca_signing_keys',
    column: 'key_ref',
    idColumn: 'id',
    aad: (r) => keyRefAad(String(r.id)),
    innerAad: () => SOFTWARE_SIGNING_KEY_AAD,
  },
  {
    table: 'ca_ocsp_responders',
    column: 'key_ref',
    idColumn: 'signing_key_id',
    aadColumns: ['serial_hex'],
    aad: (r) => responderAad(String(r.signing_key_id), String(r.serial_hex)),
    innerAad: () => SOFTWARE_SIGNING_KEY_AAD,
  },
  {
    table: 'ca_server_tls',
    column: 'key_pem',
    idColumn: 'id',
    aad: (r) => serverTlsKeyAad(String(r.id)),
  },
  // Operator sessions (migrations/0007_auth.sql): the ID token, kept for RP-initiated logout.
  {
    table: 'auth_sessions',
    column: 'id_token_sealed',
    idColumn: 'token_hash',
    aad: () => ID_TOKEN_AAD,
  },
];
