import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, withTenant } from '@ampora/db';
import { createTestDatabase } from '../../../test/support/database.js';
import type { TestDatabase } from '../../../test/support/database.js';
import { appendAuditEvent } from './append.js';
import type { AuditRecord } from './chain.js';
import { writeCheckpoint } from './checkpoint.js';
import { createAuditReader } from './reader.js';
import { RetentionError, sweepRetention } from './retention.js';
import { createTenant, ed25519Signer, ids, sampleEvent, tamper } from './testing.js';
import { verifyChain } from './verify.js';

const DAY = 86_400_000;
const START = new Date('2019-01-01T00:00:00Z');
const keys = ed25519Signer();
let t: TestDatabase;
let slugs = 0;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(() => t?.close());

/** Ten events one day apart from START, with a signed checkpoint after the events named. */
async function dailyChain(checkpointAfter: number[]): Promise<{ tenant: string; records: AuditRecord[] }> {
  const tenant = await createTenant(t.owner, `retention-${++slugs}`);
  const clock = manualClock(START);
  const records: AuditRecord[] = [];
  for (let i = 1; i <= 10; i++) {
    records.push(
      await withTenant(t.db, tenant, (tx) => appendAuditEvent(tx, sampleEvent(tenant, i), { clock, ids })),
    );
    if (checkpointAfter.includes(i)) await writeCheckpoint(t.db, tenant, keys.signer, clock);
    clock.advance(DAY);
  }
  return { tenant, records };
}

const sweep = (
  tenant: string,
  days: { hotDays: number; archiveDays: number },
  now = new Date(START.getTime() + 100 * DAY),
) => withTenant(t.db, tenant, (tx) => sweepRetention(tx, { tenantId: tenant, now, ...days }));

async function seqs(tenant: string, table: 'audit_events' | 'audit_events_archive'): Promise<number[]> {
  const rows = await withTenant(t.db, tenant, (tx) =>
    tx.selectFrom(table).select('seq').orderBy('seq').execute(),
  );
  return rows.map((r) => Number(r.seq));
}

const verify = (tenant: string) =>
  verifyChain(createAuditReader(t.db), {
    tenantId: tenant,
    verifySignature: keys.verifySignature,
    batchSize: 3,
  });

describe('sweepRetention', () => {
  it('moves events past hotDays to the archive, hashes included, and the chain still verifies', async () => {
    const { tenant, records } = await dailyChain([]);
    // now = day 100, hotDays 95: events of days 0..4 (seq 1..5) are moved.
    expect(await sweep(tenant, { hotDays: 95, archiveDays: 2555 })).toEqual({ archived: 5, purged: 0 });
    expect(await seqs(tenant, 'audit_events_archive')).toEqual([1, 2, 3, 4, 5]);
    expect(await seqs(tenant, 'audit_events')).toEqual([6, 7, 8, 9, 10]);
    expect(await createAuditReader(t.db).records(tenant, 0, 100)).toEqual(records);
    expect(await verify(tenant)).toEqual({ ok: true, count: 10, tenants: 1 });
    expect(await sweep(tenant, { hotDays: 95, archiveDays: 2555 })).toEqual({ archived: 0, purged: 0 });
  });

  it('purges past archiveDays only up to a checkpoint, which anchors the rest of the chain', async () => {
    const { tenant } = await dailyChain([2, 8]);
    // archiveDays 97: events of days 0..2 (seq 1..3) may go; the newest checkpoint before seq 4 is at 2.
    expect(await sweep(tenant, { hotDays: 95, archiveDays: 97 })).toEqual({ archived: 5, purged: 2 });
    expect(await seqs(tenant, 'audit_events_archive')).toEqual([3, 4, 5]);
    expect(await verify(tenant)).toEqual({ ok: true, count: 8, tenants: 1 });
  });

  it('purges nothing without a checkpoint to anchor the kept events', async () => {
    const { tenant } = await dailyChain([]);
    expect(await sweep(tenant, { hotDays: 95, archiveDays: 97 })).toEqual({ archived: 5, purged: 0 });
    expect(await verify(tenant)).toMatchObject({ ok: true, count: 10 });
  });

  it('can purge a whole chain that ends in a checkpoint, and it still verifies', async () => {
    const { tenant } = await dailyChain([10]);
    const now = new Date(START.getTime() + 400 * DAY);
    expect(await sweep(tenant, { hotDays: 30, archiveDays: 365 }, now)).toEqual({ archived: 10, purged: 10 });
    expect(await verify(tenant)).toEqual({ ok: true, count: 0, tenants: 1 });
  });

  it('keeps the archive tamper-evident', async () => {
    const { tenant } = await dailyChain([2]);
    await sweep(tenant, { hotDays: 95, archiveDays: 97 });
    await tamper(t.owner, [
      `update audit_events_archive set actor_id = 'nobody' where tenant_id = '${tenant}' and seq = 4`,
    ]);
    expect(await verify(tenant)).toMatchObject({ ok: false, firstBadSeq: 4, problem: 'hash_mismatch' });
  });

  it('detects a prefix deleted past the checkpoint anchor', async () => {
    const { tenant } = await dailyChain([2]);
    await sweep(tenant, { hotDays: 95, archiveDays: 97 });
    await tamper(t.owner, [`delete from audit_events_archive where tenant_id = '${tenant}' and seq = 3`]);
    expect(await verify(tenant)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'seq_gap' });
  });

  it('lets the app role read the archive but never touch it', async () => {
    const { tenant } = await dailyChain([]);
    await sweep(tenant, { hotDays: 95, archiveDays: 2555 });
    await expect(
      withTenant(t.db, tenant, (tx) => sql`delete from audit_events_archive`.execute(tx)),
    ).rejects.toThrow(/permission denied/);
    expect(await seqs(tenant, 'audit_events_archive')).toHaveLength(5);
  });

  it('refuses nonsensical retention periods before asking the database', async () => {
    const { tenant } = await dailyChain([]);
    await expect(sweep(tenant, { hotDays: 0, archiveDays: 10 })).rejects.toThrow(RetentionError);
    await expect(sweep(tenant, { hotDays: 90, archiveDays: 30 })).rejects.toThrow(RetentionError);
    await expect(sweep(tenant, { hotDays: 1.5, archiveDays: 30 })).rejects.toThrow(RetentionError);
  });

  it('refuses, in the database, to purge events younger than a year', async () => {
    const { tenant } = await dailyChain([]);
    await expect(sweep(tenant, { hotDays: 1, archiveDays: 30 }, new Date())).rejects.toThrow(/out of range/);
    expect(await seqs(tenant, 'audit_events')).toHaveLength(10);
  });
});
