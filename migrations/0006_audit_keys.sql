-- Keys that sign audit checkpoints. Install-wide: one key signs the checkpoints of every tenant,
-- and the signed payload names the tenant, so a checkpoint cannot be moved to another chain.
--
-- The private key (PKCS#8 DER) is sealed by the key protector with the AAD
-- `audit_signing_keys:private_key:<key_id>`, so `ampora keys rewrap` can move it to a new master
-- key. Public keys are kept after rotation: every checkpoint ever signed must stay verifiable.
create table audit_signing_keys (
  key_id text primary key check (key_id ~ '^[a-z0-9-]{1,64}$'),
  algorithm text not null check (algorithm = 'ed25519'),
  -- SubjectPublicKeyInfo DER.
  public_key bytea not null,
  private_key text not null check (private_key like 'amp:%'),
  status text not null check (status in ('active', 'retired')),
  created_at timestamptz not null,
  retired_at timestamptz,
  check ((status = 'retired') = (retired_at is not null))
);

-- At most one key signs new checkpoints.
create unique index audit_signing_keys_one_active on audit_signing_keys ((true)) where status = 'active';

-- Rows are never deleted: an old public key is what proves an old checkpoint.
grant select, insert on audit_signing_keys to ampora_app;
grant update (status, retired_at, private_key) on audit_signing_keys to ampora_app;
