import type { ColumnType } from 'kysely';
import type { Timestamp } from './core.js';

export type AuthRole = 'viewer' | 'operator' | 'admin';

export interface AuthUsersTable {
  id: ColumnType<string, string, never>;
  tenant_id: ColumnType<string, string, never>;
  sub: ColumnType<string, string, never>;
  name: string | null;
  email: string | null;
  role: AuthRole;
  role_source: 'idp' | 'manual' | 'first-user';
  created_at: ColumnType<Date, Date | string, never>;
  last_login_at: Timestamp | null;
}

export interface AuthSessionsTable {
  token_hash: ColumnType<string, string, never>;
  tenant_id: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  created_at: ColumnType<Date, Date | string, never>;
  last_seen_at: Timestamp;
  expires_at: ColumnType<Date, Date | string, never>;
  id_token_sealed: ColumnType<string | null, string | null, never>;
}

export interface AuthPatsTable {
  id: ColumnType<string, string, never>;
  tenant_id: ColumnType<string, string, never>;
  name: ColumnType<string, string, never>;
  token_hash: ColumnType<string, string, never>;
  role: ColumnType<AuthRole, AuthRole, never>;
  allowed_endpoints: ColumnType<string[] | null, string[] | null, never>;
  created_by_user_id: ColumnType<string | null, string, never>;
  created_by_name: ColumnType<string, string, never>;
  created_at: ColumnType<Date, Date | string, never>;
  expires_at: ColumnType<Date | null, Date | string | null, never>;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface AuthRoleMappingsTable {
  tenant_id: ColumnType<string, string, never>;
  idp_group: ColumnType<string, string, never>;
  role: ColumnType<AuthRole, AuthRole, never>;
}

export interface AuthInstallStateTable {
  id: ColumnType<number, number, never>;
  first_admin_user_id: ColumnType<string, string, never>;
  first_admin_tenant: ColumnType<string, string, never>;
  claimed_at: ColumnType<Date, Date | string, never>;
}

export interface AuthTables {
  auth_users: AuthUsersTable;
  auth_sessions: AuthSessionsTable;
  auth_pats: AuthPatsTable;
  auth_role_mappings: AuthRoleMappingsTable;
  auth_install_state: AuthInstallStateTable;
}
