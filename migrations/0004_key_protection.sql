-- Key protector state: a canary sealed under the master key, so a server started with the wrong
-- master key refuses to start instead of failing (or writing) later. Install-wide, not per tenant.

create table key_protection_state (
  id smallint primary key check (id = 1),
  canary text not null,
  key_id text not null,
  updated_at timestamptz not null default now()
);

grant select, insert, update on key_protection_state to ampora_app;
