import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '@ampora/db';
import { createTestDatabase } from '../../../test/support/database.js';
import type { TestDatabase } from '../../../test/support/database.js';
import { computeRecordHash } from './chain.js';
import type { AuditRecord } from './chain.js';
import { writeCheckpoint } from './checkpoint.js';
import { createAuditReader } from './reader.js';
import type { AuditChainReader } from './reader.js';
import { appendMany, createTenant, ed25519Signer, tamper } from './testing.js';
import { verifyChain } from './verify.js';
import type { VerifyOptions } from './verify.js';

let t: TestDatabase;
let reader: AuditChainReader;
const keys = ed25519Signer();
const clock = manualClock(new Date('2020-03-01T00:00:00Z'));
let slugs = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  reader = createAuditReader(t.db);
});

afterAll(() => t?.close());

/** A tenant with 30 events and signed checkpoints at seq 10 and 20. */
async function fixture(): Promise<{ tenant: string; records: AuditRecord[]; options: VerifyOptions }> {
  const tenant = await createTenant(t.owner, `verify-${++slugs}`);
  const records = await appendMany(t.db, tenant, 10);
  await writeCheckpoint(t.db, tenant, keys.signer, clock);
  records.push(...(await appendMany(t.db, tenant, 10, new Date('2020-01-02T00:00:00Z'), 11)));
  await writeCheckpoint(t.db, tenant, keys.signer, clock);
  records.push(...(await appendMany(t.db, tenant, 10, new Date('2020-01-03T00:00:00Z'), 21)));
  // Small pages, so that problems across page boundaries are exercised too.
  return {
    tenant,
    records,
    options: { tenantId: tenant, verifySignature: keys.verifySignature, batchSize: 7 },
  };
}

describe('verifyChain on sound chains', () => {
  it('accepts an untouched chain with its checkpoints', async () => {
    const { options } = await fixture();
    expect(await verifyChain(reader, options)).toEqual({ ok: true, count: 30, tenants: 1 });
  });

  it('accepts every tenant at once, and a tenant without events', async () => {
    const fresh = await createTestDatabase();
    try {
      const a = await createTenant(fresh.owner, 'all-a');
      const b = await createTenant(fresh.owner, 'all-b');
      await appendMany(fresh.db, a, 4);
      await appendMany(fresh.db, b, 6);
      const result = await verifyChain(createAuditReader(fresh.db), {
        verifySignature: keys.verifySignature,
      });
      expect(result).toEqual({ ok: true, count: 10, tenants: 3 }); // a, b and the default tenant
    } finally {
      await fresh.close();
    }
  });

  it('does not write a checkpoint when the chain has not moved', async () => {
    const { tenant } = await fixture();
    const first = await writeCheckpoint(t.db, tenant, keys.signer, clock);
    expect(first).toMatchObject({ seq: 30, count: 30, keyId: 'audit-key-1' });
    expect(await writeCheckpoint(t.db, tenant, keys.signer, clock)).toBeUndefined();
    expect((await reader.checkpoints(tenant)).map((c) => c.seq)).toEqual([10, 20, 30]);
  });
});

describe('verifyChain names the first bad row', () => {
  it('an edited row: hash_mismatch', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [
      `update audit_events set after = '{"state":"rewritten"}' where tenant_id = '${tenant}' and seq = 7`,
    ]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      tenantId: tenant,
      firstBadSeq: 7,
      problem: 'hash_mismatch',
      count: 6,
    });
  });

  it('an edited actor or time, each a hash_mismatch', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [
      `update audit_events set actor_name = 'someone else' where tenant_id = '${tenant}' and seq = 23`,
    ]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 23,
      problem: 'hash_mismatch',
    });
    const second = await fixture();
    await tamper(t.owner, [
      `update audit_events set time = time + interval '1 millisecond' where tenant_id = '${second.tenant}' and seq = 2`,
    ]);
    expect(await verifyChain(reader, second.options)).toMatchObject({
      ok: false,
      firstBadSeq: 2,
      problem: 'hash_mismatch',
    });
  });

  it('a deleted row: seq_gap at the missing seq', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [`delete from audit_events where tenant_id = '${tenant}' and seq = 12`]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 12,
      problem: 'seq_gap',
    });
  });

  it('a deleted first row: seq_gap at 1', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [`delete from audit_events where tenant_id = '${tenant}' and seq = 1`]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 1,
      problem: 'seq_gap',
    });
  });

  it('reordered rows (seq values swapped): reordered', async () => {
    const { tenant, options } = await fixture();
    const where = `where tenant_id = '${tenant}'`;
    await tamper(t.owner, [
      `update audit_events set seq = 1000000 ${where} and seq = 14`,
      `update audit_events set seq = 14 ${where} and seq = 15`,
      `update audit_events set seq = 15 ${where} and seq = 1000000`,
    ]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 14,
      problem: 'reordered',
    });
  });

  it('a deleted row with the rest renumbered: broken_link', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [
      `delete from audit_events where tenant_id = '${tenant}' and seq = 25`,
      `update audit_events set seq = seq + 999999 where tenant_id = '${tenant}' and seq > 25`,
      `update audit_events set seq = seq - 1000000 where tenant_id = '${tenant}' and seq > 1000000`,
      `update audit_chain_heads set seq = 29 where tenant_id = '${tenant}'`,
    ]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 25,
      problem: 'broken_link',
    });
  });

  it('a truncated tail, head rewritten too, against the last checkpoint: truncated', async () => {
    const { tenant, records, options } = await fixture();
    await tamper(t.owner, [
      `delete from audit_events where tenant_id = '${tenant}' and seq > 17`,
      `update audit_chain_heads set seq = 17, hash = '${records[16]!.hash}' where tenant_id = '${tenant}'`,
    ]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 18,
      problem: 'truncated',
      count: 17,
    });
  });

  it('a truncated tail after the last checkpoint, against the chain head: truncated', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [`delete from audit_events where tenant_id = '${tenant}' and seq > 26`]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 27,
      problem: 'truncated',
    });
  });

  it('a tail rewritten with recomputed hashes: checkpoint_mismatch at the next checkpoint', async () => {
    const { tenant, records, options } = await fixture();
    let prevHash = records[7]!.prevHash;
    const statements: string[] = [];
    for (const original of records.slice(7)) {
      const edited = {
        ...original,
        prevHash,
        after: original.seq === 8 ? { state: 'forged' } : original.after,
      };
      const hash = computeRecordHash(edited);
      statements.push(
        `update audit_events set prev_hash = '${prevHash}', hash = '${hash}'` +
          (original.seq === 8 ? `, after = '{"state":"forged"}'` : '') +
          ` where tenant_id = '${tenant}' and seq = ${original.seq}`,
      );
      prevHash = hash;
    }
    statements.push(`update audit_chain_heads set hash = '${prevHash}' where tenant_id = '${tenant}'`);
    await tamper(t.owner, statements);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 10,
      problem: 'checkpoint_mismatch',
    });
  });

  it('a forged checkpoint signature: bad_checkpoint_signature', async () => {
    const { tenant, options } = await fixture();
    const forger = ed25519Signer('audit-key-1');
    await tamper(t.owner, [
      `update audit_checkpoints set signature = '\\x${Buffer.from(forger.signer.sign(Buffer.from('x')) as Buffer).toString('hex')}'
       where tenant_id = '${tenant}' and seq = 20`,
    ]);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 20,
      problem: 'bad_checkpoint_signature',
    });
  });

  it('a checkpoint signed by another key, or with an edited field: bad_checkpoint_signature', async () => {
    const { tenant, options } = await fixture();
    const intruder = ed25519Signer('intruder-key');
    await writeCheckpoint(t.db, tenant, intruder.signer, clock);
    expect(await verifyChain(reader, options)).toMatchObject({
      ok: false,
      firstBadSeq: 30,
      problem: 'bad_checkpoint_signature',
    });

    const second = await fixture();
    await tamper(t.owner, [
      `update audit_checkpoints set time = time + interval '1 hour' where tenant_id = '${second.tenant}' and seq = 10`,
    ]);
    expect(await verifyChain(reader, second.options)).toMatchObject({
      ok: false,
      firstBadSeq: 10,
      problem: 'bad_checkpoint_signature',
    });
  });

  it('reports the bad tenant when verifying every tenant', async () => {
    const fresh = await createTestDatabase();
    try {
      const good = await createTenant(fresh.owner, 'good');
      const bad = await createTenant(fresh.owner, 'bad');
      await appendMany(fresh.db, good, 5);
      await appendMany(fresh.db, bad, 5);
      await tamper(fresh.owner, [
        `update audit_events set action = 'x.y' where tenant_id = '${bad}' and seq = 3`,
      ]);
      const result = await verifyChain(createAuditReader(fresh.db), {
        verifySignature: keys.verifySignature,
      });
      expect(result).toMatchObject({ ok: false, tenantId: bad, firstBadSeq: 3, problem: 'hash_mismatch' });
    } finally {
      await fresh.close();
    }
  });

  it('works through the owner connection as well as the app role', async () => {
    const { tenant, options } = await fixture();
    await tamper(t.owner, [
      `update audit_events set before = null where tenant_id = '${tenant}' and seq = 29`,
    ]);
    expect(await verifyChain(createAuditReader(t.owner), options)).toMatchObject({
      ok: false,
      firstBadSeq: 29,
    });
    const rows = await sql<{
      n: number;
    }>`select count(*)::int as n from audit_events where tenant_id = ${tenant}`.execute(t.owner);
    expect(rows.rows[0]?.n).toBe(30);
  });
});
