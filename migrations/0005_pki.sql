-- PKI: Ampora's certificate authority. Signing keys and their public revocation data are
-- install-wide; the certificates an operator manages belong to a tenant.
--
-- Who may do what: ampora_app creates and moves signing keys through their lifecycle, records
-- certificates and revokes them, allocates CRL numbers and stores published CRLs. Nothing here is
-- ever deleted by the app role except the cached local server TLS certificate, which is replaced.

-- CA signing keys. key_ref is what the crypto provider needs to sign (for the software provider,
-- the private key sealed by the key protector; for a KMS, the key's name), itself sealed with the
-- AAD `ca_signing_keys:key_ref:<id>`, so a key reference copied onto another row does not open.
-- Lifecycle: draft -> active -> trusted (still in the trust bundle until trusted_until) -> retired
-- (out of the trust bundle; its CRL is published until its last certificate expires).
create table ca_signing_keys (
  id uuid primary key,
  state text not null check (state in ('draft', 'active', 'trusted', 'retired')),
  -- Signature algorithm in the crypto provider's naming (ecdsa-sha256, rsa-pkcs1-sha256, ...).
  algorithm text not null,
  -- Key type and size: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ...
  key_spec text not null,
  -- Crypto provider kind holding the key: software, aws-kms, azure-key-vault, gcp-kms, ...
  provider text not null,
  key_ref text not null check (key_ref like 'amp:%'),
  source text not null check (source in ('generated', 'imported')),
  subject text,
  -- The CA certificate; NULL only while the key is a draft.
  cert_der bytea,
  fingerprint text check (fingerprint ~ '^[0-9a-f]{64}$'),
  -- Certificates above an imported intermediate CA, PEM, in chain order; empty for a root.
  chain_pem text not null default '',
  not_before timestamptz,
  not_after timestamptz,
  created_at timestamptz not null default now(),
  activated_at timestamptz,
  trusted_until timestamptz,
  retired_at timestamptz,
  check (state = 'draft' or (cert_der is not null and not_before is not null and not_after is not null)),
  check (state <> 'trusted' or trusted_until is not null)
);

-- At most one key signs new certificates.
create unique index ca_signing_keys_one_active on ca_signing_keys ((true)) where state = 'active';

grant select, insert on ca_signing_keys to ampora_app;
grant update (state, subject, cert_der, fingerprint, not_before, not_after, activated_at, trusted_until,
  retired_at, key_ref) on ca_signing_keys to ampora_app;

-- The delegated OCSP responder of each signing key: a short-lived certificate with EKU ocspSigning
-- issued by that key, and its own key (sealed like a CA key reference, with the AAD
-- `ca_ocsp_responders:key_ref:<signing key id>:<serial>`).
create table ca_ocsp_responders (
  signing_key_id uuid primary key references ca_signing_keys (id),
  serial_hex text not null check (serial_hex ~ '^[0-9a-f]+$'),
  algorithm text not null,
  provider text not null,
  key_ref text not null check (key_ref like 'amp:%'),
  cert_der bytea not null,
  not_before timestamptz not null,
  not_after timestamptz not null,
  updated_at timestamptz not null default now()
);

grant select, insert, update on ca_ocsp_responders to ampora_app;

-- Certificates issued to a tenant's agents (and the server's own, under the default tenant).
create table certificates (
  tenant_id uuid not null references tenants (id),
  id uuid not null,
  serial_hex text not null check (serial_hex ~ '^[0-9a-f]+$'),
  fingerprint text not null check (fingerprint ~ '^[0-9a-f]{64}$'),
  kind text not null check (kind in ('agent', 'ocsp-responder', 'server-tls')),
  agent_id text check (length(agent_id) between 1 and 128),
  subject text not null,
  signing_key_id uuid not null references ca_signing_keys (id),
  cert_der bytea not null,
  not_before timestamptz not null,
  not_after timestamptz not null,
  status text not null default 'active' check (status in ('active', 'revoked')),
  revoked_at timestamptz,
  revocation_reason text,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (fingerprint),
  unique (signing_key_id, serial_hex),
  check ((status = 'revoked') = (revoked_at is not null and revocation_reason is not null))
);

create index certificates_agent_idx on certificates (tenant_id, agent_id, id);
create index certificates_kind_idx on certificates (tenant_id, kind, id);

alter table certificates enable row level security;
alter table certificates force row level security;
create policy certificates_tenant on certificates
  using (tenant_id = app_current_tenant())
  with check (tenant_id = app_current_tenant());

grant select, insert on certificates to ampora_app;
grant update (status, revoked_at, revocation_reason) on certificates to ampora_app;

-- Public revocation data, read by the OCSP responder, the CRL publisher and every mTLS handshake
-- without a tenant context. Written in the same transaction as `certificates`. The owning tenant
-- is kept for the gateway, under a name that is not tenant_id because the table is deliberately
-- outside row-level security.
create table certificate_status (
  signing_key_id uuid not null references ca_signing_keys (id),
  serial_hex text not null check (serial_hex ~ '^[0-9a-f]+$'),
  fingerprint text not null unique check (fingerprint ~ '^[0-9a-f]{64}$'),
  owner_tenant uuid references tenants (id),
  status text not null check (status in ('good', 'revoked')),
  revoked_at timestamptz,
  reason text,
  not_after timestamptz not null,
  primary key (signing_key_id, serial_hex),
  check ((status = 'revoked') = (revoked_at is not null and reason is not null))
);

create index certificate_status_revoked_idx on certificate_status (signing_key_id, not_after)
  where status = 'revoked';
create index certificate_status_expiry_idx on certificate_status (signing_key_id, not_after);

grant select, insert on certificate_status to ampora_app;
grant update (status, revoked_at, reason) on certificate_status to ampora_app;

-- The CRL of each signing key. crl_number is the last number handed out; a publisher takes the
-- next one under this row's lock (SELECT ... FOR UPDATE), so replicas never reuse a number.
-- published_number is the number of the stored CRL: a publisher stores its CRL only when its
-- number is higher, so a slow publisher never replaces a newer list. allocated_at tells a
-- scheduled round that another replica is publishing right now.
create table crl_state (
  signing_key_id uuid primary key references ca_signing_keys (id),
  crl_number bigint not null default 0 check (crl_number >= 0),
  allocated_at timestamptz,
  published_number bigint,
  this_update timestamptz,
  next_update timestamptz,
  der bytea,
  check (published_number is null or published_number <= crl_number)
);

grant select, insert on crl_state to ampora_app;
grant update (crl_number, allocated_at, published_number, this_update, next_update, der) on crl_state to ampora_app;

-- The server's own TLS certificate for the OpAMP listener in local mode, per set of host names,
-- so that every replica and every restart serves the same one until it is due for renewal.
-- key_pem is sealed with the AAD `ca_server_tls:key_pem:<id>`.
create table ca_server_tls (
  id uuid primary key,
  hostnames text not null unique,
  signing_key_id uuid not null references ca_signing_keys (id),
  key_pem text not null check (key_pem like 'amp:%'),
  cert_der bytea not null,
  not_before timestamptz not null,
  not_after timestamptz not null,
  created_at timestamptz not null default now()
);

grant select, insert, delete on ca_server_tls to ampora_app;
