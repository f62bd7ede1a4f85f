-- Approvals (four eyes): a change that needs a second person waits here until a different identity
-- of the same tenant approves or rejects it, or its requester cancels it. The table is generic:
-- `kind` names what is asked for (`pki.signing-key.activate` today), and the module that owns the
-- kind applies the change, in the decision's transaction, when the request is approved.
--
-- Who may do what: ampora_app creates requests and moves them once from pending to approved,
-- rejected or cancelled. Nothing is ever deleted: a decided request is the record of who decided.

create table approval_requests (
  tenant_id uuid not null references tenants (id),
  id uuid not null,
  kind text not null check (length(kind) <= 100 and kind ~ '^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$'),
  -- The entity the change applies to, as the owning module names it (e.g. signing-key / <key id>).
  entity_type text not null check (length(entity_type) between 1 and 100),
  entity_id text not null check (length(entity_id) between 1 and 200),
  status text not null check (status in ('pending', 'approved', 'rejected', 'cancelled')),
  -- What is being approved, as the owning module describes it when the request is made (for a
  -- signing key: its certificate's subject and fingerprint), so the approver sees what they sign off.
  summary jsonb not null default '{}'::jsonb check (jsonb_typeof(summary) = 'object'),
  -- The person behind the request: `oidc:<sub>` for a user, and for a PAT the subject of the user
  -- who issued it; `system:<id>` for the local-development principal. Four eyes compares these.
  requested_by_identity text not null check (length(requested_by_identity) between 1 and 300),
  -- The actor as the audit trail names it (a PAT appears as itself, not as its issuer).
  requested_by_kind text not null check (requested_by_kind in ('user', 'pat', 'system')),
  requested_by_id text not null,
  requested_by_name text not null,
  requested_at timestamptz not null,
  decided_by_identity text,
  decided_by_kind text check (decided_by_kind in ('user', 'pat', 'system')),
  decided_by_id text,
  decided_by_name text,
  decided_at timestamptz,
  -- Required for a rejection, which returns the change to Draft with this reason.
  reason text check (length(reason) between 1 and 2000),
  primary key (tenant_id, id),
  check ((status = 'pending') = (decided_at is null)),
  check ((status = 'pending') = (decided_by_identity is null)),
  check (status <> 'rejected' or reason is not null),
  -- The four-eyes rule itself, so that no code path can record a self-approval.
  check (status not in ('approved', 'rejected') or decided_by_identity <> requested_by_identity),
  -- Only the requester cancels.
  check (status <> 'cancelled' or decided_by_identity = requested_by_identity)
);

-- One pending request per entity and kind. Entity ids are UUIDs, and some entities (CA signing
-- keys) are install-wide, so the rule holds across tenants rather than per tenant.
create unique index approval_requests_one_pending on approval_requests (kind, entity_id)
  where status = 'pending';

create index approval_requests_list_idx on approval_requests (tenant_id, requested_at desc, id desc);

alter table approval_requests enable row level security;
alter table approval_requests force row level security;
create policy approval_requests_tenant on approval_requests
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert on approval_requests to ampora_app;
grant update (status, decided_by_identity, decided_by_kind, decided_by_id, decided_by_name, decided_at, reason)
  on approval_requests to ampora_app;
