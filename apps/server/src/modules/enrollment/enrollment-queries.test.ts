import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, withTenant, type Database } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { insertToken, redeemToken } from './enrollment-queries.js';

let t: TestDatabase;
let wide: Database;

beforeAll(async () => {
  t = await createTestDatabase();
  wide = createDatabase(t.appUrl, { max: 10 });
});
afterAll(async () => {
  await wide?.destroy();
  await t?.close();
});

const NOW = new Date('2030-01-01T12:00:00Z');

async function token(expiresAt = new Date(NOW.getTime() + 3_600_000)) {
  const tokenHash = randomBytes(32).toString('hex');
  const id = randomUUID();
  await withTenant(t.db, t.defaultTenantId, (tx) =>
    insertToken(tx, {
      tenant_id: t.defaultTenantId,
      id,
      token_hash: tokenHash,
      label: 'bench',
      initial_group: 'edge',
      pool_id: null,
      created_by: 'test',
      created_at: new Date(NOW.getTime() - 60_000),
      expires_at: expiresAt,
    }),
  );
  return { id, tokenHash };
}

const tombstones = (tokenHash: string) =>
  t.owner.selectFrom('enrollment_redemptions').selectAll().where('token_hash', '=', tokenHash).execute();

describe('redeemToken', () => {
  it('takes the token and leaves one tombstone naming the agent', async () => {
    const { id, tokenHash } = await token();
    const agentId = randomUUID();
    const taken = await withTenant(t.db, t.defaultTenantId, (tx) =>
      redeemToken(tx, { tenantId: t.defaultTenantId, tokenHash, agentId, now: NOW }),
    );
    expect(taken).toEqual({ id, label: 'bench', initial_group: 'edge', pool_id: null });
    expect(await tombstones(tokenHash)).toEqual([
      {
        tenant_id: t.defaultTenantId,
        token_hash: tokenHash,
        token_id: id,
        agent_id: agentId,
        redeemed_at: NOW,
      },
    ]);
    const left = await t.owner
      .selectFrom('enrollment_tokens')
      .select('id')
      .where('token_hash', '=', tokenHash)
      .execute();
    expect(left).toEqual([]);
  });

  it('of ten racing redemptions exactly one wins, and only it leaves a tombstone', async () => {
    const { tokenHash } = await token();
    const agents = Array.from({ length: 10 }, () => randomUUID());
    const results = await Promise.all(
      agents.map((agentId) =>
        withTenant(wide, t.defaultTenantId, (tx) =>
          redeemToken(tx, { tenantId: t.defaultTenantId, tokenHash, agentId, now: NOW }),
        ),
      ),
    );
    const winners = agents.filter((_, i) => results[i] !== undefined);
    expect(winners).toHaveLength(1);
    const rows = await tombstones(tokenHash);
    expect(rows.map((r) => r.agent_id)).toEqual(winners);
  });

  it('does not take an expired token, and writes no tombstone for it', async () => {
    const { tokenHash } = await token(new Date(NOW.getTime() - 1));
    const taken = await withTenant(t.db, t.defaultTenantId, (tx) =>
      redeemToken(tx, { tenantId: t.defaultTenantId, tokenHash, agentId: randomUUID(), now: NOW }),
    );
    expect(taken).toBeUndefined();
    expect(await tombstones(tokenHash)).toEqual([]);
  });

  it('leaves the token in place when the transaction rolls back', async () => {
    const { tokenHash } = await token();
    await expect(
      withTenant(t.db, t.defaultTenantId, async (tx) => {
        await redeemToken(tx, { tenantId: t.defaultTenantId, tokenHash, agentId: randomUUID(), now: NOW });
        throw new Error('later step failed');
      }),
    ).rejects.toThrow('later step failed');
    expect(await tombstones(tokenHash)).toEqual([]);
    const again = await withTenant(t.db, t.defaultTenantId, (tx) =>
      redeemToken(tx, { tenantId: t.defaultTenantId, tokenHash, agentId: randomUUID(), now: NOW }),
    );
    expect(again).toBeDefined();
  });
});
