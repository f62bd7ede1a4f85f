import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, withTenant } from '@ampora/db';
import { createTestDatabase } from '../../../test/support/database.js';
import type { TestDatabase } from '../../../test/support/database.js';
import { writeCheckpoint } from './checkpoint.js';
import { sweepRetention } from './retention.js';
import { appendMany, createTenant, ed25519Signer } from './testing.js';

let t: TestDatabase;
let tenant: string;
let other: string;

beforeAll(async () => {
  t = await createTestDatabase();
  tenant = await createTenant(t.owner, 'append-only');
  other = await createTenant(t.owner, 'append-only-other');
  // Three archived events and three hot ones, so that row triggers have rows to fire on.
  await appendMany(t.db, tenant, 3, new Date('2020-01-01T00:00:00Z'));
  await withTenant(t.db, tenant, (tx) =>
    sweepRetention(tx, { tenantId: tenant, now: new Date('2020-06-01T00:00:00Z') }),
  );
  await appendMany(t.db, tenant, 3, new Date('2025-01-01T00:00:00Z'), 4);
  await writeCheckpoint(t.db, tenant, ed25519Signer().signer, manualClock(new Date('2020-02-01T00:00:00Z')));
});

afterAll(() => t?.close());

const asApp = (statement: string) => withTenant(t.db, tenant, (tx) => sql.raw(statement).execute(tx));
const asOwner = (statement: string) => sql.raw(statement).execute(t.owner);

describe('append-only audit tables, as the app role', () => {
  for (const table of ['audit_events', 'audit_events_archive', 'audit_checkpoints']) {
    it(`cannot UPDATE, DELETE or TRUNCATE ${table}`, async () => {
      await expect(asApp(`update ${table} set seq = seq`)).rejects.toThrow(/permission denied/);
      await expect(asApp(`delete from ${table}`)).rejects.toThrow(/permission denied/);
      await expect(asApp(`truncate ${table}`)).rejects.toThrow(/permission denied/);
    });
  }

  it('cannot delete or truncate chain heads, nor write the archive directly', async () => {
    await expect(asApp('delete from audit_chain_heads')).rejects.toThrow(/permission denied/);
    await expect(asApp('truncate audit_chain_heads')).rejects.toThrow(/permission denied/);
    await expect(asApp('insert into audit_events_archive select * from audit_events')).rejects.toThrow(
      /permission denied/,
    );
  });

  it('is still refused by the trigger when a DELETE grant is given by mistake, setting or not', async () => {
    await asOwner('grant delete on audit_events to ampora_app');
    try {
      await expect(
        withTenant(t.db, tenant, async (tx) => {
          await sql`select set_config('ampora.audit_retention', 'on', true)`.execute(tx);
          await sql`delete from audit_events`.execute(tx);
        }),
      ).rejects.toThrow(/append-only/);
    } finally {
      await asOwner('revoke delete on audit_events from ampora_app');
    }
    expect(
      await withTenant(t.db, tenant, (tx) => tx.selectFrom('audit_events').select('seq').execute()),
    ).toHaveLength(3);
  });

  it('can run the retention sweep only for its own tenant context and sane cut-offs', async () => {
    await expect(
      withTenant(t.db, tenant, (tx) =>
        sweepRetention(tx, { tenantId: other, now: new Date('2020-01-01T00:00:00Z') }),
      ),
    ).rejects.toThrow(/its tenant's context/);
    await expect(
      withTenant(t.db, tenant, (tx) =>
        sql`select * from audit_retention_sweep(${tenant}::uuid, now() + interval '1 day', now() - interval '400 days')`.execute(
          tx,
        ),
      ),
    ).rejects.toThrow(/out of range/);
    await expect(
      withTenant(t.db, tenant, (tx) =>
        sql`select * from audit_retention_sweep(${tenant}::uuid, now(), now() - interval '10 days')`.execute(
          tx,
        ),
      ),
    ).rejects.toThrow(/out of range/);
  });
});

describe('append-only audit tables, as the owner without disabling triggers', () => {
  for (const table of ['audit_events', 'audit_events_archive', 'audit_checkpoints']) {
    it(`refuses UPDATE, DELETE and TRUNCATE on ${table}`, async () => {
      await expect(asOwner(`update ${table} set seq = seq`)).rejects.toThrow(/append-only/);
      await expect(asOwner(`truncate ${table}`)).rejects.toThrow(/append-only/);
      await expect(asOwner(`delete from ${table}`)).rejects.toThrow(/append-only/);
    });
  }

  it('refuses an ad hoc DELETE that does not come from the retention sweep', async () => {
    await expect(asOwner('delete from audit_events where seq = 4')).rejects.toThrow(/append-only/);
    await expect(asOwner('delete from audit_chain_heads')).rejects.toThrow(/append-only/);
    const { rows } = await sql`select count(*)::int as n from audit_events`.execute(t.owner);
    expect(rows).toEqual([{ n: 3 }]);
    const archived = await sql`select count(*)::int as n from audit_events_archive`.execute(t.owner);
    expect(archived.rows).toEqual([{ n: 3 }]);
  });
});
