import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

describe('tenancy guard rails', () => {
  it('every table with a tenant_id column has RLS enabled and forced, with at least one policy', async () => {
    const { rows } = await sql<{ table: string; enabled: boolean; forced: boolean; policies: number }>`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
             (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
      where c.relkind in ('r', 'p')
        and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
      order by 1`.execute(t.owner);
    const offenders = rows.filter((r) => !r.enabled || !r.forced || r.policies === 0).map((r) => r.table);
    expect(offenders).toEqual([]);
  });

  it('the app role is not a superuser, cannot bypass RLS and owns no table', async () => {
    const { rows } = await sql<{
      rolsuper: boolean;
      rolbypassrls: boolean;
      rolcreaterole: boolean;
      owned: number;
    }>`
      select r.rolsuper, r.rolbypassrls, r.rolcreaterole,
             (select count(*)::int from pg_class c where c.relowner = r.oid) as owned
      from pg_roles r where r.rolname = ${APP_ROLE}`.execute(t.owner);
    expect(rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcreaterole: false, owned: 0 }]);
  });

  it('the app role connection really is the app role', async () => {
    const { rows } = await sql<{ u: string }>`select current_user as u`.execute(t.db);
    expect(rows[0]?.u).toBe(APP_ROLE);
  });
});
