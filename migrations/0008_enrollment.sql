-- Enrollment and agent identity: bootstrap tokens, the token pools that mint them for automation,
-- the identities agents get when they redeem one, and the certificates each identity may present.
--
-- Who may do what: ampora_app issues and deletes tokens and pools, redeems tokens (a DELETE),
-- creates identities and moves their credentials from pending to current to superseded. Nothing
-- here holds a secret: tokens and pool admin secrets are stored only as SHA-256 hashes.

-- A bootstrap token, shown once to the operator who made it. Redemption deletes the row in the same
-- transaction that creates the agent identity, so a token works exactly once.
create table enrollment_tokens (
  tenant_id uuid not null references tenants (id),
  id uuid not null,
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  label text not null check (length(label) between 1 and 200),
  -- The group the agent lands in on first connect (kept for the groups feature).
  initial_group text check (length(initial_group) between 1 and 200),
  -- Set when a token pool minted the token.
  pool_id uuid,
  created_by text not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  primary key (tenant_id, id),
  check (expires_at > created_at)
);

create index enrollment_tokens_list_idx on enrollment_tokens (tenant_id, created_at desc, id);

alter table enrollment_tokens enable row level security;
alter table enrollment_tokens force row level security;
create policy enrollment_tokens_tenant on enrollment_tokens
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert, delete on enrollment_tokens to ampora_app;

-- What is left of a redeemed token: its hash and the agent it enrolled. It lets the server say
-- "this token was already used" (and audit it in the right tenant) instead of "unknown token".
create table enrollment_redemptions (
  tenant_id uuid not null references tenants (id),
  token_hash text not null check (token_hash ~ '^[0-9a-f]{64}$'),
  token_id uuid not null,
  agent_id uuid not null,
  redeemed_at timestamptz not null,
  primary key (tenant_id, token_hash),
  unique (token_hash)
);

alter table enrollment_redemptions enable row level security;
alter table enrollment_redemptions force row level security;
create policy enrollment_redemptions_tenant on enrollment_redemptions
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert on enrollment_redemptions to ampora_app;

-- A token pool: automation that holds the pool's admin secret mints single-use tokens for the
-- pool's tenant, each with the pool's TTL and default group.
create table enrollment_pools (
  tenant_id uuid not null references tenants (id),
  id uuid not null,
  name text not null check (length(name) between 1 and 100),
  secret_hash text not null check (secret_hash ~ '^[0-9a-f]{64}$'),
  token_ttl_seconds integer not null check (token_ttl_seconds between 900 and 604800),
  default_group text check (length(default_group) between 1 and 200),
  created_by text not null,
  created_at timestamptz not null,
  primary key (tenant_id, id),
  unique (tenant_id, name),
  unique (id)
);

alter table enrollment_pools enable row level security;
alter table enrollment_pools force row level security;
create policy enrollment_pools_tenant on enrollment_pools
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert, delete on enrollment_pools to ampora_app;

-- An enrolled agent. The id is the agent's id (the `agents` row has the same one) and is named in
-- its certificates' SAN URI; the instance_uid is bound at enrollment and every mTLS message must
-- carry it. `key_origin` says who made the key: the agent (CSR flow) or the server.
create table agent_identities (
  tenant_id uuid not null references tenants (id),
  id uuid not null,
  instance_uid bytea not null check (length(instance_uid) = 16),
  initial_group text,
  key_origin text not null check (key_origin in ('csr', 'server')),
  token_id uuid,
  enrolled_at timestamptz not null,
  primary key (tenant_id, id),
  unique (tenant_id, instance_uid)
);

alter table agent_identities enable row level security;
alter table agent_identities force row level security;
create policy agent_identities_tenant on agent_identities
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert on agent_identities to ampora_app;

-- The certificates an identity may present, by fingerprint (SHA-256 of the DER). A renewal adds a
-- `pending` one; the first connection with it makes it `current` and the previous ones
-- `superseded`, which are refused from then on without being put on the CRL. Revocation itself
-- lives with the PKI (certificate_status).
create table agent_credentials (
  tenant_id uuid not null references tenants (id),
  fingerprint text not null check (fingerprint ~ '^[0-9a-f]{64}$'),
  agent_id uuid not null,
  serial_hex text not null check (serial_hex ~ '^[0-9a-f]+$'),
  state text not null check (state in ('pending', 'current', 'superseded')),
  key_origin text not null check (key_origin in ('csr', 'server')),
  not_before timestamptz not null,
  not_after timestamptz not null,
  issued_at timestamptz not null,
  activated_at timestamptz,
  superseded_at timestamptz,
  primary key (tenant_id, fingerprint),
  unique (fingerprint),
  foreign key (tenant_id, agent_id) references agent_identities (tenant_id, id)
);

create index agent_credentials_agent_idx on agent_credentials (tenant_id, agent_id, issued_at);

alter table agent_credentials enable row level security;
alter table agent_credentials force row level security;
create policy agent_credentials_tenant on agent_credentials
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert on agent_credentials to ampora_app;
grant update (state, activated_at, superseded_at) on agent_credentials to ampora_app;

-- A bootstrap token names no tenant, and RLS hides every row until the tenant is known. This
-- answers only "which tenant holds a token (live or redeemed) with this hash, and when does it
-- expire", so that admission can refuse at the handshake and redemption then runs in that tenant.
create function enrollment_token_lookup(p_token_hash text)
  returns table (tenant_id uuid, token_id uuid, state text, expires_at timestamptz)
  language sql stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$
  select t.tenant_id, t.id, 'live'::text, t.expires_at
    from public.enrollment_tokens t where t.token_hash = p_token_hash
  union all
  select r.tenant_id, r.token_id, 'redeemed'::text, null::timestamptz
    from public.enrollment_redemptions r where r.token_hash = p_token_hash
$$;

revoke all on function enrollment_token_lookup(text) from public;
grant execute on function enrollment_token_lookup(text) to ampora_app;

-- The pool automation endpoint carries only a pool id and its secret; this names the pool's tenant.
create function enrollment_pool_tenant(p_pool_id uuid) returns uuid
  language sql stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$ select p.tenant_id from public.enrollment_pools p where p.id = p_pool_id $$;

revoke all on function enrollment_pool_tenant(uuid) from public;
grant execute on function enrollment_pool_tenant(uuid) to ampora_app;
