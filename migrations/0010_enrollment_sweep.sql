-- Housekeeping of enrollment records, and rotation of a token pool's admin secret.
--
-- The sweep job deletes bootstrap tokens that expired longer ago than a grace period, and
-- redemption tombstones older than a retention window, tenant by tenant in bounded batches; the
-- indexes below let each batch find its oldest rows without scanning the tenant's whole table.

create index enrollment_tokens_expiry_idx on enrollment_tokens (tenant_id, expires_at);
create index enrollment_redemptions_age_idx on enrollment_redemptions (tenant_id, redeemed_at);

grant delete on enrollment_redemptions to ampora_app;

-- Rotation replaces the pool's secret hash and keeps the one it replaced, with the instant until
-- which that one is still accepted (the rotation time itself when there is no overlap). The
-- previous hash stays after that instant so that a caller still presenting the old secret is told
-- it was rotated rather than that it is wrong; the next rotation overwrites it.
alter table enrollment_pools
  add column previous_secret_hash text check (previous_secret_hash ~ '^[0-9a-f]{64}$'),
  add column previous_secret_expires_at timestamptz,
  add column secret_rotated_at timestamptz,
  add constraint enrollment_pools_previous_secret_check check (
    (previous_secret_hash is null) = (previous_secret_expires_at is null)
    and (previous_secret_hash is null) = (secret_rotated_at is null)
  );

grant update (secret_hash, previous_secret_hash, previous_secret_expires_at, secret_rotated_at)
  on enrollment_pools to ampora_app;
