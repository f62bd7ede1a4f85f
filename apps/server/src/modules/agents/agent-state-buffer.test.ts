import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, uuidv7Ids, withTenant } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { createAgentStateBuffer } from './agent-state-buffer.js';
import type { AgentStatePatch } from './agent-state.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

const logger = pino({ level: 'silent' });
const uid = (n: number) => n.toString(16).padStart(32, '0');

function rowFor(uidHex: string) {
  return withTenant(t.db, t.defaultTenantId, (tx) =>
    tx
      .selectFrom('agents')
      .selectAll()
      .where('instance_uid', '=', Buffer.from(uidHex, 'hex'))
      .executeTakeFirst(),
  );
}

async function countUpdates() {
  const { rows } = await sql<{
    n: number;
  }>`select n_tup_upd::int as n from pg_stat_user_tables where relname = 'agents'`.execute(t.owner);
  return rows[0]?.n ?? 0;
}

describe('agent state buffer', () => {
  it('writes a new agent with its sections, and a later section replaces the stored one whole (A-9)', async () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buf = createAgentStateBuffer({
      db: t.db,
      ids: uuidv7Ids,
      clock,
      logger,
      flushIntervalMs: 1000,
      livenessWriteIntervalMs: 10_000,
    });
    const base: AgentStatePatch = { tenantId: t.defaultTenantId, instanceUid: uid(1), seenAt: clock.now() };
    buf.record({
      ...base,
      sequenceNum: 0,
      capabilities: 0x1 | 0x2000,
      description: {
        json: { a: 1 },
        attributes: { 'service.name': 'otelcol' },
        agentType: 'otelcol',
        agentVersion: '1.0',
        hostName: 'h1',
      },
      health: { json: { healthy: true, componentHealthMap: { x: { healthy: true } } }, healthy: true },
      connected: true,
      transport: 'websocket',
    });
    await buf.flush();
    let row = await rowFor(uid(1));
    expect(row).toMatchObject({
      agent_type: 'otelcol',
      host_name: 'h1',
      healthy: true,
      connected: true,
      capabilities: 0x2001,
    });
    expect(row?.attributes).toEqual({ 'service.name': 'otelcol' });

    buf.record({ ...base, sequenceNum: 1, health: { json: { healthy: false }, healthy: false } });
    await buf.flush();
    row = await rowFor(uid(1));
    expect(row?.health).toEqual({ healthy: false });
    expect(row?.healthy).toBe(false);
    expect(row?.agent_type).toBe('otelcol'); // description omitted: unchanged
    expect(row?.capabilities).toBe(0x2001); // capabilities omitted: unchanged
    expect(row?.sequence_num).toBe(1);
  });

  it('coalesces heartbeats: many liveness-only reports become at most one row update per interval', async () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buf = createAgentStateBuffer({
      db: t.db,
      ids: uuidv7Ids,
      clock,
      logger,
      flushIntervalMs: 1000,
      livenessWriteIntervalMs: 10_000,
    });
    buf.record({
      tenantId: t.defaultTenantId,
      instanceUid: uid(2),
      seenAt: clock.now(),
      sequenceNum: 0,
      connected: true,
    });
    await buf.flush();
    const before = await countUpdates();
    for (let i = 1; i <= 50; i++) {
      clock.advance(100);
      buf.record({ tenantId: t.defaultTenantId, instanceUid: uid(2), seenAt: clock.now(), sequenceNum: i });
      await buf.flush();
    }
    // 5 s of heartbeats: not due yet, nothing written.
    expect(buf.pending).toBe(1);
    clock.advance(10_000);
    await buf.flush();
    expect(buf.pending).toBe(0);
    // pg_stat counters are asynchronous; read the row for the exact effect and bound the count loosely.
    const row = await rowFor(uid(2));
    expect(row?.sequence_num).toBe(50);
    expect((await countUpdates()) - before).toBeLessThanOrEqual(2);
  });

  it('close() writes liveness updates that were not yet due, losing nothing', async () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buf = createAgentStateBuffer({
      db: t.db,
      ids: uuidv7Ids,
      clock,
      logger,
      flushIntervalMs: 1000,
      livenessWriteIntervalMs: 60_000,
    });
    buf.record({
      tenantId: t.defaultTenantId,
      instanceUid: uid(3),
      seenAt: clock.now(),
      sequenceNum: 0,
      connected: true,
    });
    await buf.flush();
    clock.advance(500);
    buf.record({ tenantId: t.defaultTenantId, instanceUid: uid(3), seenAt: clock.now(), sequenceNum: 7 });
    await buf.flush();
    expect((await rowFor(uid(3)))?.sequence_num).toBe(0);
    await buf.close();
    expect((await rowFor(uid(3)))?.sequence_num).toBe(7);
  });

  it('a failed flush keeps the patches and a later flush writes them', async () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buf = createAgentStateBuffer({
      db: t.db,
      ids: uuidv7Ids,
      clock,
      logger,
      flushIntervalMs: 1000,
      livenessWriteIntervalMs: 0,
    });
    await sql`revoke update on agents from ampora_app`.execute(t.owner);
    try {
      buf.record({
        tenantId: t.defaultTenantId,
        instanceUid: uid(4),
        seenAt: clock.now(),
        sequenceNum: 3,
        connected: true,
      });
      await buf.flush();
      expect(buf.pending).toBe(1);
    } finally {
      await sql`grant update on agents to ampora_app`.execute(t.owner);
    }
    await buf.flush();
    expect(buf.pending).toBe(0);
    expect((await rowFor(uid(4)))?.sequence_num).toBe(3);
  });

  it('rows of another tenant are invisible to the app role (RLS)', async () => {
    const other = '00000000-0000-7000-8000-0000000000aa';
    await sql`insert into tenants (id, slug, name) values (${other}, 'other', 'Other')`.execute(t.owner);
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buf = createAgentStateBuffer({
      db: t.db,
      ids: uuidv7Ids,
      clock,
      logger,
      flushIntervalMs: 1000,
      livenessWriteIntervalMs: 0,
    });
    buf.record({ tenantId: other, instanceUid: uid(5), seenAt: clock.now(), connected: true });
    await buf.flush();
    expect(await rowFor(uid(5))).toBeUndefined();
    const seen = await withTenant(t.db, other, (tx) => tx.selectFrom('agents').select('id').execute());
    expect(seen).toHaveLength(1);
  });
});
