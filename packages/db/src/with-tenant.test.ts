import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { withTenant } from './with-tenant.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

const tenantOf = async (db: TestDatabase['db']) =>
  (
    await sql<{ t: string | null }>`select nullif(current_setting('app.tenant_id', true), '') as t`.execute(
      db,
    )
  ).rows[0]?.t ?? null;

describe('withTenant', () => {
  it('sets the tenant for its transaction only', async () => {
    const inside = await withTenant(t.db, t.defaultTenantId, (tx) => tenantOf(tx as never));
    expect(inside).toBe(t.defaultTenantId);
    // The same pooled connections afterwards carry no tenant.
    const after = await Promise.all(Array.from({ length: 8 }, () => tenantOf(t.db)));
    expect(after.every((v) => v === null)).toBe(true);
  });

  it('a transaction started inside does not inherit the tenant', async () => {
    const nested = await withTenant(t.db, t.defaultTenantId, () =>
      t.db.transaction().execute((inner) => tenantOf(inner as never)),
    );
    expect(nested).toBeNull();
  });

  it('concurrent transactions of different tenants each see their own', async () => {
    const other = '00000000-0000-7000-8000-0000000000bb';
    const seen = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const id = i % 2 ? other : t.defaultTenantId;
        return withTenant(t.db, id, async (tx) => ({ id, seen: await tenantOf(tx as never) }));
      }),
    );
    expect(seen.every((s) => s.seen === s.id)).toBe(true);
  });

  it('refuses a tenant id that is not a UUID before touching the database', async () => {
    await expect(withTenant(t.db, "x'); drop table tenants; --", async () => 1)).rejects.toThrow(
      /must be a UUID/,
    );
    expect((await t.owner.selectFrom('tenants').select('id').execute()).length).toBeGreaterThan(0);
  });

  it('rolls back what fn wrote when fn throws', async () => {
    await expect(
      withTenant(t.db, t.defaultTenantId, async (tx) => {
        await tx
          .insertInto('agents')
          .values({
            tenant_id: t.defaultTenantId,
            id: '00000000-0000-7000-8000-00000000abcd',
            instance_uid: Buffer.alloc(16, 7),
            last_seen_at: new Date(),
            updated_at: new Date(),
          })
          .execute();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const rows = await withTenant(t.db, t.defaultTenantId, (tx) =>
      tx.selectFrom('agents').select('id').where('id', '=', '00000000-0000-7000-8000-00000000abcd').execute(),
    );
    expect(rows).toEqual([]);
  });
});
