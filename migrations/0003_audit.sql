-- Audit trail: append-only events in a per-tenant hash chain, signed checkpoints, and an archive
-- tier for retention.
--
-- Who may do what:
-- * ampora_app appends events (INSERT), reads them, moves its chain head forward (UPDATE of the
--   head only), and records checkpoints. It never gets UPDATE, DELETE or TRUNCATE on events,
--   archive or checkpoints, and triggers refuse those operations even for the owner.
-- * Retention (hot -> archive -> purge) runs only through audit_retention_sweep(), a SECURITY
--   DEFINER function owned by the owner role; see the comment on audit_refuse_change() for how the
--   triggers let that one function, and nothing else, delete rows.

-- The columns hashed into the chain are fixed here and in packages/audit (chain.ts). Text, not
-- inet, for source_ip: inet would normalise the address and the stored value would no longer be
-- the hashed one.
create table audit_events (
  id uuid primary key,
  tenant_id uuid not null references tenants (id),
  seq bigint not null check (seq > 0),
  version smallint not null check (version = 1),
  prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text not null check (hash ~ '^[0-9a-f]{64}$'),
  time timestamptz not null,
  actor_kind text not null check (actor_kind in ('user', 'pat', 'agent', 'peer', 'system')),
  actor_id text not null,
  actor_name text not null,
  action text not null,
  entity_type text not null,
  entity_id text,
  before jsonb,
  after jsonb,
  outcome text not null check (outcome in ('success', 'denied', 'failure')),
  source_ip text,
  user_agent text,
  request_id text,
  unique (tenant_id, seq)
);

-- Filters of the audit search: by time, entity, actor, action, request.
create index audit_events_time_idx on audit_events (tenant_id, time desc);
create index audit_events_entity_idx on audit_events (tenant_id, entity_type, entity_id, time desc);
create index audit_events_actor_idx on audit_events (tenant_id, actor_id, time desc);
create index audit_events_action_idx on audit_events (tenant_id, action, time desc);
create index audit_events_request_idx on audit_events (tenant_id, request_id) where request_id is not null;

-- The same rows, moved here by retention with their hashes, so the chain stays verifiable.
create table audit_events_archive (
  id uuid primary key,
  tenant_id uuid not null references tenants (id),
  seq bigint not null check (seq > 0),
  version smallint not null check (version = 1),
  prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text not null check (hash ~ '^[0-9a-f]{64}$'),
  time timestamptz not null,
  actor_kind text not null check (actor_kind in ('user', 'pat', 'agent', 'peer', 'system')),
  actor_id text not null,
  actor_name text not null,
  action text not null,
  entity_type text not null,
  entity_id text,
  before jsonb,
  after jsonb,
  outcome text not null check (outcome in ('success', 'denied', 'failure')),
  source_ip text,
  user_agent text,
  request_id text,
  unique (tenant_id, seq)
);

create index audit_events_archive_time_idx on audit_events_archive (tenant_id, time desc);
create index audit_events_archive_entity_idx on audit_events_archive (tenant_id, entity_type, entity_id, time desc);
create index audit_events_archive_actor_idx on audit_events_archive (tenant_id, actor_id, time desc);
create index audit_events_archive_action_idx on audit_events_archive (tenant_id, action, time desc);

-- One row per tenant: the last link of its chain. Appends lock it (SELECT ... FOR UPDATE), which
-- serialises writers of one tenant and leaves other tenants alone. seq 0 with 64 zeros is genesis.
create table audit_chain_heads (
  tenant_id uuid primary key references tenants (id),
  seq bigint not null check (seq >= 0),
  hash text not null check (hash ~ '^[0-9a-f]{64}$')
);

-- Signed statements "at time T the chain of tenant X had seq S with hash H". They reveal a
-- truncated tail, and they are the trusted anchors that let retention purge a chain's prefix.
create table audit_checkpoints (
  tenant_id uuid not null references tenants (id),
  seq bigint not null check (seq > 0),
  head_hash text not null check (head_hash ~ '^[0-9a-f]{64}$'),
  count bigint not null check (count >= 0),
  time timestamptz not null,
  key_id text not null,
  signature bytea not null,
  primary key (tenant_id, seq)
);

-- Tenancy: every audit table is tenant-scoped, for the owner too (FORCE).
alter table audit_events enable row level security;
alter table audit_events force row level security;
create policy audit_events_tenant on audit_events
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

alter table audit_events_archive enable row level security;
alter table audit_events_archive force row level security;
create policy audit_events_archive_tenant on audit_events_archive
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

alter table audit_chain_heads enable row level security;
alter table audit_chain_heads force row level security;
create policy audit_chain_heads_tenant on audit_chain_heads
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

alter table audit_checkpoints enable row level security;
alter table audit_checkpoints force row level security;
create policy audit_checkpoints_tenant on audit_checkpoints
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

-- Refuses UPDATE, DELETE and TRUNCATE on append-only tables, whoever asks.
--
-- The single exception is a DELETE made by audit_retention_sweep(). It is recognised by two
-- conditions that must both hold:
-- 1. current_user is the table's owner. Inside a SECURITY DEFINER function current_user is the
--    function's owner, while the app role's own statements run as ampora_app. The app role cannot
--    become the owner, so this is the condition that keeps it out.
-- 2. The transaction-local setting ampora.audit_retention is 'on'. Any role can set a custom
--    setting, so on its own it would guard nothing; here it only narrows condition 1 down to the
--    sweep, so that the owner's ad hoc DELETE, or another SECURITY DEFINER function, is still
--    refused. The sweep turns it on just around its own DELETE statements.
-- A superuser can still DISABLE TRIGGER; the hash chain and the signed checkpoints exist to reveal
-- what is done that way.
create function audit_refuse_change() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'DELETE'
     and current_user = (select pg_get_userbyid(c.relowner) from pg_class c where c.oid = tg_relid)
     and current_setting('ampora.audit_retention', true) = 'on' then
    return old;
  end if;
  raise exception 'audit records are append-only: % on % is refused', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_append_only before update or delete on audit_events
  for each row execute function audit_refuse_change();
create trigger audit_events_no_truncate before truncate on audit_events
  for each statement execute function audit_refuse_change();
create trigger audit_events_archive_append_only before update or delete on audit_events_archive
  for each row execute function audit_refuse_change();
create trigger audit_events_archive_no_truncate before truncate on audit_events_archive
  for each statement execute function audit_refuse_change();
create trigger audit_checkpoints_append_only before update or delete on audit_checkpoints
  for each row execute function audit_refuse_change();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
  for each statement execute function audit_refuse_change();
create trigger audit_chain_heads_no_delete before delete on audit_chain_heads
  for each row execute function audit_refuse_change();
create trigger audit_chain_heads_no_truncate before truncate on audit_chain_heads
  for each statement execute function audit_refuse_change();

-- The database itself keeps the chain linked: a new event must extend the current head (next seq,
-- prev_hash = head hash), and the head may only move one step, onto an event that exists. Only
-- the content hash is left to the application, and `ampora audit verify` recomputes it.
create function audit_events_check_link() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
declare
  head record;
begin
  select h.seq, h.hash into head from public.audit_chain_heads h where h.tenant_id = new.tenant_id for update;
  if not found or new.seq <> head.seq + 1 or new.prev_hash <> head.hash then
    raise exception 'audit event does not extend the chain head of its tenant'
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;

create trigger audit_events_link before insert on audit_events
  for each row execute function audit_events_check_link();

create function audit_chain_heads_check_move() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.seq <> 0 or new.hash <> repeat('0', 64) then
      raise exception 'an audit chain starts at genesis' using errcode = 'integrity_constraint_violation';
    end if;
    return new;
  end if;
  if new.tenant_id <> old.tenant_id or new.seq <> old.seq + 1 or not exists (
    select 1 from public.audit_events e where e.tenant_id = new.tenant_id and e.seq = new.seq and e.hash = new.hash
  ) then
    raise exception 'an audit chain head only moves onto the next appended event'
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;

create trigger audit_chain_heads_move before insert or update on audit_chain_heads
  for each row execute function audit_chain_heads_check_move();

-- Retention for one tenant, in the caller's tenant context:
-- 1. moves hot events older than p_archive_before to the archive, hashes included;
-- 2. purges archived events older than p_purge_before, but only up to the newest checkpoint that
--    is older than every event being kept. The first kept event's prev_hash is then the head hash
--    of a signed checkpoint, which `verify` uses as the chain's trusted anchor. Without such a
--    checkpoint nothing is purged.
-- Fixed search_path and schema-qualified names, so a caller cannot redirect the definer's
-- statements with objects of its own. The cut-offs are checked against the database clock, and no
-- call may purge events younger than 365 days (the shortest archive period of any compliance
-- preset), so that a compromised app role cannot use this function to erase recent history.
create function audit_retention_sweep(p_tenant uuid, p_archive_before timestamptz, p_purge_before timestamptz)
  returns table (archived bigint, purged bigint)
  language plpgsql
  security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  v_archived bigint := 0;
  v_purged bigint := 0;
  v_boundary bigint;
  v_anchor bigint;
begin
  if p_tenant is null or p_tenant is distinct from public.app_current_tenant() then
    raise exception 'a retention sweep runs in its tenant''s context' using errcode = 'insufficient_privilege';
  end if;
  if p_archive_before is null or p_purge_before is null
     or p_archive_before > now() or p_purge_before > p_archive_before
     or p_purge_before > now() - interval '365 days' then
    raise exception 'retention cut-offs are out of range' using errcode = 'invalid_parameter_value';
  end if;

  -- One sweep per tenant at a time; appends are not blocked.
  perform pg_advisory_xact_lock(hashtextextended('ampora:audit-retention:' || p_tenant::text, 0));

  perform set_config('ampora.audit_retention', 'on', true);
  with moved as (
    delete from public.audit_events e
    where e.tenant_id = p_tenant and e.time < p_archive_before
    returning e.*
  )
  insert into public.audit_events_archive (
    id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id, actor_name, action,
    entity_type, entity_id, before, after, outcome, source_ip, user_agent, request_id)
  select id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id, actor_name, action,
    entity_type, entity_id, before, after, outcome, source_ip, user_agent, request_id
  from moved;
  get diagnostics v_archived = row_count;

  -- The first event (in chain order) that must be kept.
  select min(s.seq) into v_boundary from (
    (select e.seq from public.audit_events e
      where e.tenant_id = p_tenant and e.time >= p_purge_before order by e.seq limit 1)
    union all
    (select a.seq from public.audit_events_archive a
      where a.tenant_id = p_tenant and a.time >= p_purge_before order by a.seq limit 1)
  ) s;
  if v_boundary is null then
    select h.seq + 1 into v_boundary from public.audit_chain_heads h where h.tenant_id = p_tenant;
  end if;

  select max(c.seq) into v_anchor from public.audit_checkpoints c
  where c.tenant_id = p_tenant and c.seq < coalesce(v_boundary, 0);

  if v_anchor is not null then
    delete from public.audit_events_archive a where a.tenant_id = p_tenant and a.seq <= v_anchor;
    get diagnostics v_purged = row_count;
  end if;
  perform set_config('ampora.audit_retention', 'off', true);

  return query select v_archived, v_purged;
end $$;

revoke all on function audit_retention_sweep(uuid, timestamptz, timestamptz) from public;
revoke all on function audit_refuse_change() from public;
revoke all on function audit_events_check_link() from public;
revoke all on function audit_chain_heads_check_move() from public;
grant execute on function audit_retention_sweep(uuid, timestamptz, timestamptz) to ampora_app;

grant select, insert on audit_events to ampora_app;
grant select on audit_events_archive to ampora_app;
grant select, insert, update (seq, hash) on audit_chain_heads to ampora_app;
grant select, insert on audit_checkpoints to ampora_app;
