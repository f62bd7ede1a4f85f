-- Approval requests expire (AMPORA_APPROVALS_REQUEST_TTL_HOURS), so that a change nobody looked at
-- cannot be approved weeks later, out of its context. The server decides expiry when it reads a
-- request, from `expires_at` and its clock, so no job has to run for a request to count as expired.
--
-- A pending request past its `expires_at` still holds the one-pending-per-entity index below, and a
-- partial index cannot compare with the time. So when the owner asks again, the server first stores
-- `expired` on the lapsed request, in the transaction that opens the new one; until then the row
-- stays `pending` in storage and is answered as expired.

alter table approval_requests add column expires_at timestamptz;

-- Requests from before expiry get the default lifetime. Row-level security is forced for the owner
-- too; lifted for this one statement, inside the migration's transaction, so every tenant's rows are
-- filled in.
alter table approval_requests no force row level security;
update approval_requests set expires_at = requested_at + interval '72 hours';
alter table approval_requests force row level security;

alter table approval_requests
  alter column expires_at set not null,
  add constraint approval_requests_expires_after_request check (expires_at > requested_at);

-- `expired` is decided by nobody: like `pending`, it has no decider and no decision time.
alter table approval_requests
  drop constraint approval_requests_status_check,
  drop constraint approval_requests_check,
  drop constraint approval_requests_check1,
  add constraint approval_requests_status_check
    check (status in ('pending', 'approved', 'rejected', 'cancelled', 'expired')),
  add constraint approval_requests_undecided_no_decision_time
    check ((status in ('pending', 'expired')) = (decided_at is null)),
  add constraint approval_requests_undecided_no_decider
    check ((status in ('pending', 'expired')) = (decided_by_identity is null));

-- The app role already may update `status` (0009) and insert rows. It is not granted updates of
-- `expires_at`: a request's lifetime is fixed when it is made.
