-- Core: schema privileges for the app role, the RLS context helper, and tenants.
-- The app role (ampora_app) is created by the migration runner before this file runs.

revoke all on schema public from public;
grant usage on schema public to ampora_app;

-- Readiness checks read which migrations are applied.
grant select on kysely_migration to ampora_app;

-- The tenant of the current transaction, set by withTenant(). NULL when unset, so that
-- policies comparing against it match nothing instead of failing open.
create function app_current_tenant() returns uuid
  language sql stable
  as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;

create table tenants (
  id uuid primary key,
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null,
  created_at timestamptz not null default now()
);

-- Tenants are listed by the operator API and read by login to resolve a tenant claim.
grant select on tenants to ampora_app;

insert into tenants (id, slug, name) values ('00000000-0000-7000-8000-000000000001', 'default', 'Default');
