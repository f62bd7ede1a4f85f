import { createPrivateKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { auditSigningKeyAad, createAuditSigningKeys } from './audit-signing-keys.js';
import { testKeys } from './audit-test-support.js';

let t: TestDatabase;
const keys = testKeys();

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

describe('audit checkpoint signing keys', () => {
  it('creates exactly one active key, even when replicas start together', async () => {
    const replicas = [1, 2, 3].map(() => createAuditSigningKeys({ db: t.db, keys, clock: systemClock }));
    const ids = await Promise.all(replicas.map((r) => r.ensureActiveKey()));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^audit-ed25519-[0-9a-f]{16}$/);
    const rows = await t.owner.selectFrom('audit_signing_keys').selectAll().execute();
    expect(rows.filter((r) => r.status === 'active')).toHaveLength(1);
  });

  it('stores the private key sealed under its row AAD, never in the clear', async () => {
    const row = await t.owner
      .selectFrom('audit_signing_keys')
      .selectAll()
      .where('status', '=', 'active')
      .executeTakeFirstOrThrow();
    expect(row.private_key.startsWith('amp:v1:')).toBe(true);
    const der = await keys.open(row.private_key, auditSigningKeyAad(row.key_id));
    expect(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).asymmetricKeyType).toBe('ed25519');
    await expect(
      keys.open(row.private_key, auditSigningKeyAad('audit-ed25519-0000000000000000')),
    ).rejects.toThrow();
  });

  it('verifies its own signatures, and rejects altered payloads, altered signatures and unknown keys', async () => {
    const store = createAuditSigningKeys({ db: t.db, keys, clock: systemClock });
    const signer = await store.signer();
    const payload = Buffer.from('checkpoint');
    const sig = Buffer.from(await signer.sign(payload));
    expect(await store.verifySignature(signer.keyId, payload, sig)).toBe(true);
    expect(await store.verifySignature(signer.keyId, Buffer.from('checkpoinT'), sig)).toBe(false);
    const bad = Buffer.from(sig);
    bad[0]! ^= 1;
    expect(await store.verifySignature(signer.keyId, payload, bad)).toBe(false);
    expect(await store.verifySignature(signer.keyId, payload, Buffer.from('short'))).toBe(false);
    expect(await store.verifySignature('audit-ed25519-ffffffffffffffff', payload, sig)).toBe(false);
  });

  it('rotation activates a new key and keeps old signatures verifiable', async () => {
    const store = createAuditSigningKeys({ db: t.db, keys, clock: systemClock });
    const before = await store.signer();
    const payload = Buffer.from('old checkpoint');
    const oldSig = Buffer.from(await before.sign(payload));
    const newId = await store.rotate();
    expect(newId).not.toBe(before.keyId);
    const after = await store.signer();
    expect(after.keyId).toBe(newId);
    // Another replica, with nothing cached, still verifies the retired key's signature.
    const other = createAuditSigningKeys({ db: t.db, keys, clock: systemClock });
    expect(await other.verifySignature(before.keyId, payload, oldSig)).toBe(true);
    expect(await other.verifySignature(newId, payload, oldSig)).toBe(false);
    const statuses = await t.owner
      .selectFrom('audit_signing_keys')
      .select(['key_id', 'status', 'retired_at'])
      .execute();
    expect(statuses.find((r) => r.key_id === before.keyId)).toMatchObject({ status: 'retired' });
    expect(statuses.filter((r) => r.status === 'active').map((r) => r.key_id)).toEqual([newId]);
  });

  it('a key sealed under another master key does not open', async () => {
    const stranger = createAuditSigningKeys({ db: t.db, keys: testKeys(), clock: systemClock });
    await expect(stranger.signer()).rejects.toThrow();
  });
});
