-- Operators: users per tenant, server-side sessions, personal access tokens, the IdP group → role
-- mapping of each tenant, and the one-shot "first user becomes Admin" state of the install.

-- One row per person per tenant, keyed by the IdP subject. `role_source` says where the role came
-- from: 'idp' roles follow the claims at each login; 'manual' (set by an Admin) and 'first-user'
-- roles are kept whatever the claims say.
create table auth_users (
  id uuid primary key,
  tenant_id uuid not null references tenants (id),
  sub text not null check (length(sub) between 1 and 255),
  name text,
  email text,
  role text not null check (role in ('viewer', 'operator', 'admin')),
  role_source text not null check (role_source in ('idp', 'manual', 'first-user')),
  created_at timestamptz not null,
  last_login_at timestamptz,
  unique (tenant_id, sub)
);

create index auth_users_admins_idx on auth_users (tenant_id) where role = 'admin';

-- A browser session. The cookie carries the session token; only its SHA-256 is stored, so a
-- database dump does not hand out live sessions. The ID token is kept sealed, for the
-- id_token_hint of RP-initiated logout.
create table auth_sessions (
  token_hash text primary key check (token_hash ~ '^[0-9a-f]{64}$'),
  tenant_id uuid not null references tenants (id),
  user_id uuid not null references auth_users (id) on delete cascade,
  created_at timestamptz not null,
  last_seen_at timestamptz not null,
  expires_at timestamptz not null,
  id_token_sealed text
);

create index auth_sessions_user_idx on auth_sessions (tenant_id, user_id);

-- Personal access tokens: only the SHA-256 of `amp-pat.<body>.<crc>` is stored. The issuing user
-- caps the token's role for as long as the token lives.
create table auth_pats (
  id uuid primary key,
  tenant_id uuid not null references tenants (id),
  name text not null check (length(name) between 1 and 100),
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  role text not null check (role in ('viewer', 'operator', 'admin')),
  allowed_endpoints text[],
  -- Only a signed-in user issues PATs. A token whose issuer was removed (NULL here) stops working.
  created_by_user_id uuid references auth_users (id) on delete set null,
  created_by_name text not null,
  created_at timestamptz not null,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);

create index auth_pats_tenant_idx on auth_pats (tenant_id, created_at desc);

-- A tenant's identity mapping: members of an IdP group get a role.
create table auth_role_mappings (
  tenant_id uuid not null references tenants (id),
  idp_group text not null check (length(idp_group) between 1 and 255),
  role text not null check (role in ('viewer', 'operator', 'admin')),
  primary key (tenant_id, idp_group)
);

alter table auth_users enable row level security;
alter table auth_users force row level security;
create policy auth_users_tenant on auth_users
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

alter table auth_sessions enable row level security;
alter table auth_sessions force row level security;
create policy auth_sessions_tenant on auth_sessions
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

alter table auth_pats enable row level security;
alter table auth_pats force row level security;
create policy auth_pats_tenant on auth_pats
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

alter table auth_role_mappings enable row level security;
alter table auth_role_mappings force row level security;
create policy auth_role_mappings_tenant on auth_role_mappings
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

-- Install-wide and single-row: the first login inserts it (INSERT ... ON CONFLICT DO NOTHING), and
-- the primary key makes exactly one login win however many race. It is never deleted or updated,
-- so the first-user rule can fire only once in the life of an install.
create table auth_install_state (
  id smallint primary key check (id = 1),
  first_admin_user_id uuid not null,
  first_admin_tenant uuid not null references tenants (id),
  claimed_at timestamptz not null
);

-- A PAT names no tenant, and RLS hides every row until the tenant is known. This function answers
-- only "which tenant holds the token with this hash", so the lookup can then run in that tenant.
create function auth_pat_tenant(p_token_hash text) returns uuid
  language sql stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$ select p.tenant_id from public.auth_pats p where p.token_hash = p_token_hash $$;

revoke all on function auth_pat_tenant(text) from public;
grant execute on function auth_pat_tenant(text) to ampora_app;

grant select, insert, update (name, email, role, role_source, last_login_at), delete on auth_users to ampora_app;
grant select, insert, update (last_seen_at), delete on auth_sessions to ampora_app;
grant select, insert, update (revoked_at, last_used_at) on auth_pats to ampora_app;
grant select, insert, delete on auth_role_mappings to ampora_app;
grant select, insert on auth_install_state to ampora_app;
