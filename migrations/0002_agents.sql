-- Agent inventory: the last reported state of every agent, one row per agent.
-- Status sections are stored as the OpAMP proto3 JSON form of the reported message; a section
-- an agent has never reported is NULL.

create table agents (
  tenant_id uuid not null references tenants (id),
  id uuid not null,
  instance_uid bytea not null check (length(instance_uid) = 16),
  -- Flat map of identifying + non-identifying string attributes, for filtering.
  attributes jsonb not null default '{}'::jsonb,
  agent_type text,
  agent_version text,
  host_name text,
  description jsonb,
  capabilities bigint not null default 0,
  health jsonb,
  healthy boolean,
  effective_config jsonb,
  effective_config_hash text,
  remote_config_status jsonb,
  package_statuses jsonb,
  available_components jsonb,
  custom_capabilities jsonb,
  connection_settings_status jsonb,
  -- The remote config the server wants this agent to run (set by the config API in later releases).
  remote_config jsonb,
  remote_config_hash text,
  sequence_num bigint not null default 0,
  connected boolean not null default false,
  transport text check (transport in ('websocket', 'http')),
  remote_address text,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  connected_at timestamptz,
  disconnected_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, instance_uid)
);

create index agents_connected_idx on agents (tenant_id, connected, id);
create index agents_attributes_idx on agents using gin (attributes jsonb_path_ops);

alter table agents enable row level security;
alter table agents force row level security;
create policy agents_tenant on agents
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert, update on agents to ampora_app;
