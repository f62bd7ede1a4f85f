import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { insertEnrollment, uidOwner } from './identities-queries.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

const fingerprint = () => randomBytes(32).toString('hex');

function enrollment(agentId: string, uid: Buffer, now = new Date('2030-01-01T00:00:00Z')) {
  return {
    identity: {
      tenant_id: t.defaultTenantId,
      id: agentId,
      instance_uid: uid,
      initial_group: 'edge',
      key_origin: 'csr' as const,
      token_id: randomUUID(),
      enrolled_at: now,
    },
    credential: {
      tenant_id: t.defaultTenantId,
      fingerprint: fingerprint(),
      agent_id: agentId,
      serial_hex: '0a1b',
      state: 'current' as const,
      key_origin: 'csr' as const,
      not_before: now,
      not_after: new Date(now.getTime() + 86_400_000),
      issued_at: now,
      activated_at: now,
    },
  };
}

function enroll(agentId: string, uid: Buffer) {
  const e = enrollment(agentId, uid);
  return withTenant(t.db, t.defaultTenantId, (tx) => insertEnrollment(tx, e.identity, e.credential));
}

async function agentsRows(uid: Buffer) {
  return t.owner.selectFrom('agents').select(['id']).where('instance_uid', '=', uid).execute();
}

describe('insertEnrollment', () => {
  it('writes identity, credential and agents row in one go and returns the agent id', async () => {
    const uid = randomBytes(16);
    const agentId = randomUUID();
    expect(await enroll(agentId, uid)).toBe(agentId);
    const identity = await t.owner
      .selectFrom('agent_identities')
      .select(['id', 'initial_group'])
      .where('instance_uid', '=', uid)
      .executeTakeFirst();
    expect(identity).toEqual({ id: agentId, initial_group: 'edge' });
    const credentials = await t.owner
      .selectFrom('agent_credentials')
      .select(['agent_id', 'state'])
      .where('agent_id', '=', agentId)
      .execute();
    expect(credentials).toEqual([{ agent_id: agentId, state: 'current' }]);
    expect(await agentsRows(uid)).toEqual([{ id: agentId }]);
    expect(await withTenant(t.db, t.defaultTenantId, (tx) => uidOwner(tx, uid))).toEqual({
      identityId: agentId,
      agentRowId: agentId,
    });
  });

  it('keeps an agents row the uid already has under the same id', async () => {
    const uid = randomBytes(16);
    const agentId = randomUUID();
    const seen = new Date('2029-06-01T00:00:00Z');
    await t.owner
      .insertInto('agents')
      .values({
        tenant_id: t.defaultTenantId,
        id: agentId,
        instance_uid: uid,
        first_seen_at: seen,
        last_seen_at: seen,
        updated_at: seen,
      })
      .execute();
    expect(await withTenant(t.db, t.defaultTenantId, (tx) => uidOwner(tx, uid))).toEqual({
      identityId: undefined,
      agentRowId: agentId,
    });
    expect(await enroll(agentId, uid)).toBe(agentId);
    const row = await t.owner
      .selectFrom('agents')
      .select(['id', 'first_seen_at'])
      .where('instance_uid', '=', uid)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ id: agentId, first_seen_at: seen });
  });

  it('returns the id of an agents row held under another id, so the caller can refuse', async () => {
    const uid = randomBytes(16);
    const other = randomUUID();
    const now = new Date();
    await t.owner
      .insertInto('agents')
      .values({
        tenant_id: t.defaultTenantId,
        id: other,
        instance_uid: uid,
        first_seen_at: now,
        last_seen_at: now,
        updated_at: now,
      })
      .execute();
    expect(await enroll(randomUUID(), uid)).toBe(other);
  });

  it('fails as a whole when the uid is already enrolled, leaving nothing behind', async () => {
    const uid = randomBytes(16);
    await enroll(randomUUID(), uid);
    const second = randomUUID();
    await expect(enroll(second, uid)).rejects.toThrow();
    const credentials = await t.owner
      .selectFrom('agent_credentials')
      .select('fingerprint')
      .where('agent_id', '=', second)
      .execute();
    expect(credentials).toEqual([]);
  });

  it('refuses a credential without its identity (the foreign key holds inside the one statement)', async () => {
    const e = enrollment(randomUUID(), randomBytes(16));
    await expect(
      withTenant(t.db, t.defaultTenantId, (tx) =>
        insertEnrollment(tx, e.identity, { ...e.credential, agent_id: randomUUID() }),
      ),
    ).rejects.toThrow(/foreign key/);
  });
});
