import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, manualClock, withTenant } from '@ampora/db';
import type { Database } from '@ampora/db';
import { createTestDatabase } from '../../../test/support/database.js';
import type { TestDatabase } from '../../../test/support/database.js';
import { appendAuditEvent } from './append.js';
import { computeRecordHash, GENESIS_HASH } from './chain.js';
import { createAuditReader } from './reader.js';
import { appendMany, createTenant, ids, sampleEvent } from './testing.js';
import { verifyChain } from './verify.js';

let t: TestDatabase;
let wide: Database;
const noSignatures = { verifySignature: () => false };

beforeAll(async () => {
  t = await createTestDatabase();
  wide = createDatabase(t.appUrl, { max: 20 });
  await sql`create table audit_test_widgets (id uuid primary key, name text not null)`.execute(t.owner);
  await sql`grant select, insert on audit_test_widgets to ampora_app`.execute(t.owner);
});

afterAll(async () => {
  await wide?.destroy();
  await t?.close();
});

describe('appendAuditEvent', () => {
  it('chains events: seq from 1, prev_hash links, hash over prev_hash and the canonical row', async () => {
    const tenant = await createTenant(t.owner, 'chain');
    const records = await appendMany(t.db, tenant, 5);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[0]!.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i++) expect(records[i]!.prevHash).toBe(records[i - 1]!.hash);
    for (const r of records) expect(computeRecordHash(r)).toBe(r.hash);

    const stored = await createAuditReader(t.db).records(tenant, 0, 100);
    expect(stored).toEqual(records);
    for (const r of stored) expect(computeRecordHash(r)).toBe(r.hash);
    const head = await createAuditReader(t.db).head(tenant);
    expect(head).toEqual({ seq: 5, hash: records[4]!.hash });
  });

  it('stores every field of the event', async () => {
    const tenant = await createTenant(t.owner, 'fields');
    const clock = manualClock(new Date('2021-06-01T10:20:30.456Z'));
    const record = await withTenant(t.db, tenant, (tx) =>
      appendAuditEvent(
        tx,
        {
          tenantId: tenant,
          actor: { kind: 'pat', id: 'pat-1', name: 'ci-deployer' },
          action: 'auth.login.failed',
          entity: { type: 'user', id: null },
          outcome: 'denied',
          before: undefined,
          after: { reason: 'bad password', n: 1e21, text: 'nul\u0000byte' },
        },
        { clock, ids },
      ),
    );
    const [row] = await withTenant(t.db, tenant, (tx) => tx.selectFrom('audit_events').selectAll().execute());
    expect(row).toMatchObject({
      id: record.id,
      tenant_id: tenant,
      seq: 1,
      version: 1,
      time: new Date('2021-06-01T10:20:30.456Z'),
      actor_kind: 'pat',
      actor_id: 'pat-1',
      actor_name: 'ci-deployer',
      action: 'auth.login.failed',
      entity_type: 'user',
      entity_id: null,
      before: null,
      after: { reason: 'bad password', n: 1e21, text: 'nul\ufffdbyte' },
      outcome: 'denied',
      source_ip: null,
      user_agent: null,
      request_id: null,
      hash: record.hash,
    });
  });

  it('gives a gapless chain to 20 concurrent transactions in one tenant', async () => {
    const tenant = await createTenant(t.owner, 'concurrent');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        withTenant(wide, tenant, (tx) => appendAuditEvent(tx, sampleEvent(tenant, i), { clock, ids })),
      ),
    );
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(await verifyChain(createAuditReader(t.db), { tenantId: tenant, ...noSignatures })).toEqual({
      ok: true,
      count: 20,
      tenants: 1,
    });
  });

  it('creates the chain head once when first events of a tenant race', async () => {
    const tenant = await createTenant(t.owner, 'first-race');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        withTenant(wide, tenant, (tx) => appendAuditEvent(tx, sampleEvent(tenant, i), { clock, ids })),
      ),
    );
    expect(new Set(results.map((r) => r.seq)).size).toBe(8);
    expect((await verifyChain(createAuditReader(t.db), { tenantId: tenant, ...noSignatures })).ok).toBe(true);
  });

  it('keeps the chains of two tenants independent', async () => {
    const a = await createTenant(t.owner, 'tenant-a');
    const b = await createTenant(t.owner, 'tenant-b');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const tenant = i % 2 === 0 ? a : b;
        return withTenant(wide, tenant, (tx) => appendAuditEvent(tx, sampleEvent(tenant, i), { clock, ids }));
      }),
    );
    const reader = createAuditReader(t.db);
    expect((await reader.records(a, 0, 100)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await reader.records(b, 0, 100)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await reader.records(a, 0, 100)).every((r) => r.tenantId === a)).toBe(true);
    expect(await verifyChain(reader, { tenantId: a, ...noSignatures })).toMatchObject({ ok: true, count: 5 });
    expect(await verifyChain(reader, { tenantId: b, ...noSignatures })).toMatchObject({ ok: true, count: 5 });
  });

  it('refuses an event for another tenant than the transaction context', async () => {
    const a = await createTenant(t.owner, 'ctx-a');
    const b = await createTenant(t.owner, 'ctx-b');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    await expect(
      withTenant(t.db, a, (tx) => appendAuditEvent(tx, sampleEvent(b, 1), { clock, ids })),
    ).rejects.toThrow(/row-level security/);
    expect(await createAuditReader(t.db).records(b, 0, 10)).toEqual([]);
  });

  it('rolls back the change when the audit append fails', async () => {
    const tenant = await createTenant(t.owner, 'atomic');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    const widget = ids.uuid();
    await expect(
      withTenant(t.db, tenant, async (tx) => {
        await tx
          .insertInto('audit_test_widgets' as never)
          .values({ id: widget, name: 'w' } as never)
          .execute();
        // An invalid event (non-finite number) makes the append throw inside the transaction.
        await appendAuditEvent(tx, sampleEvent(tenant, 1, { after: { ratio: Number.NaN } }), { clock, ids });
      }),
    ).rejects.toThrow(/finite/);
    const { rows } = await sql`select id from audit_test_widgets where id = ${widget}`.execute(t.db);
    expect(rows).toEqual([]);
  });

  it('rolls back the change when the database refuses the audit row', async () => {
    const tenant = await createTenant(t.owner, 'atomic-db');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    const widget = ids.uuid();
    await expect(
      withTenant(t.db, tenant, async (tx) => {
        await tx
          .insertInto('audit_test_widgets' as never)
          .values({ id: widget, name: 'w' } as never)
          .execute();
        // The event names a tenant that does not exist: the foreign key fails the insert.
        await appendAuditEvent(tx, sampleEvent(ids.uuid(), 1), { clock, ids });
      }),
    ).rejects.toThrow();
    const { rows } = await sql`select id from audit_test_widgets where id = ${widget}`.execute(t.db);
    expect(rows).toEqual([]);
  });

  it('drops the event when the change rolls back, and the chain continues without a gap', async () => {
    const tenant = await createTenant(t.owner, 'rollback');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    await appendMany(t.db, tenant, 2);
    await expect(
      withTenant(t.db, tenant, async (tx) => {
        await appendAuditEvent(tx, sampleEvent(tenant, 3), { clock, ids });
        throw new Error('the change failed after its audit event');
      }),
    ).rejects.toThrow('the change failed');
    const next = await withTenant(t.db, tenant, (tx) =>
      appendAuditEvent(tx, sampleEvent(tenant, 4), { clock, ids }),
    );
    expect(next.seq).toBe(3);
    expect((await verifyChain(createAuditReader(t.db), { tenantId: tenant, ...noSignatures })).ok).toBe(true);
  });
});

describe('appendAuditEvent signature', () => {
  it('accepts only a transaction, never a pool (enforced by the type check)', async () => {
    const tenant = await createTenant(t.owner, 'pool-refused');
    const clock = manualClock(new Date('2022-01-01T00:00:00Z'));
    // @ts-expect-error a pool is not a transaction, so the event could not commit with its change
    const misuse = () => appendAuditEvent(t.db, sampleEvent(tenant, 1), { clock, ids });
    // Without a tenant context the database refuses it as well.
    await expect(misuse()).rejects.toThrow(/row-level security/);
  });
});

describe('database-enforced chain links', () => {
  it('refuses an event that does not extend the head, even from the app role', async () => {
    const tenant = await createTenant(t.owner, 'link');
    const [first] = await appendMany(t.db, tenant, 1);
    const insert = (seq: number, prevHash: string) =>
      withTenant(t.db, tenant, (tx) =>
        sql`insert into audit_events (id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id,
              actor_name, action, entity_type, outcome)
            values (${ids.uuid()}, ${tenant}, ${seq}, 1, ${prevHash}, ${'a'.repeat(64)}, now(), 'user', 'x', 'x',
              'x.y', 'x', 'success')`.execute(tx),
      );
    await expect(insert(2, GENESIS_HASH)).rejects.toThrow(/does not extend the chain head/);
    await expect(insert(5, first!.hash)).rejects.toThrow(/does not extend the chain head/);
  });

  it('moves the head onto each stored event, and refuses two events of a tenant in one statement', async () => {
    const tenant = await createTenant(t.owner, 'advance');
    const records = await appendMany(t.db, tenant, 2);
    const head = () =>
      withTenant(t.db, tenant, (tx) =>
        tx
          .selectFrom('audit_chain_heads')
          .select(['seq', 'hash'])
          .where('tenant_id', '=', tenant)
          .executeTakeFirst(),
      );
    expect(await head()).toMatchObject({ seq: 2, hash: records[1]!.hash });

    const row = (seq: number, prevHash: string, hash: string) =>
      sql`(${ids.uuid()}, ${tenant}, ${seq}, 1, ${prevHash}, ${hash}, now(), 'user', 'x', 'x', 'x.y', 'x', 'success')`;
    const both = withTenant(t.db, tenant, (tx) =>
      sql`insert into audit_events (id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id,
            actor_name, action, entity_type, outcome)
          values ${row(3, records[1]!.hash, 'd'.repeat(64))}, ${row(4, 'd'.repeat(64), 'e'.repeat(64))}`.execute(
        tx,
      ),
    );
    await expect(both).rejects.toThrow(/does not extend the chain head/);
    expect(await head()).toMatchObject({ seq: 2, hash: records[1]!.hash });
    const [third] = await appendMany(t.db, tenant, 1);
    expect(third!.seq).toBe(3);
    expect(await head()).toMatchObject({ seq: 3, hash: third!.hash });

    // A server from before the trigger still moves the head itself after its insert: onto where
    // the head already is, which changes nothing and is let through (rolling upgrades).
    await withTenant(t.db, tenant, (tx) =>
      tx
        .updateTable('audit_chain_heads')
        .set({ seq: 3, hash: third!.hash })
        .where('tenant_id', '=', tenant)
        .execute(),
    );
    expect(await head()).toMatchObject({ seq: 3, hash: third!.hash });
    await expect(
      withTenant(t.db, tenant, (tx) =>
        tx
          .updateTable('audit_chain_heads')
          .set({ seq: 3, hash: 'f'.repeat(64) })
          .where('tenant_id', '=', tenant)
          .execute(),
      ),
    ).rejects.toThrow(/only moves onto the next appended event/);
  });

  it('lets the head move only one step onto an existing event', async () => {
    const tenant = await createTenant(t.owner, 'head');
    const records = await appendMany(t.db, tenant, 3);
    const move = (seq: number, hash: string) =>
      withTenant(t.db, tenant, (tx) =>
        tx.updateTable('audit_chain_heads').set({ seq, hash }).where('tenant_id', '=', tenant).execute(),
      );
    await expect(move(1, records[0]!.hash)).rejects.toThrow(/only moves onto the next appended event/);
    await expect(move(4, 'b'.repeat(64))).rejects.toThrow(/only moves onto the next appended event/);
    await expect(
      withTenant(t.db, tenant, (tx) =>
        sql`insert into audit_chain_heads (tenant_id, seq, hash) values (${tenant}, 7, ${'c'.repeat(64)})`.execute(
          tx,
        ),
      ),
    ).rejects.toThrow(/an audit chain starts at genesis/);
    await expect(
      withTenant(t.db, tenant, (tx) =>
        sql`insert into audit_chain_heads (tenant_id, seq, hash) values (${tenant}, 0, ${GENESIS_HASH})
            on conflict (tenant_id) do update set seq = 7`.execute(tx),
      ),
    ).rejects.toThrow(/only moves onto the next appended event/);
  });
});
