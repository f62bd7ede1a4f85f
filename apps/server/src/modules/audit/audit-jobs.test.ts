import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditReader, verifyChain } from '@ampora/audit';
import { manualClock, withTenant } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { createLogger } from '../../observability/logger.js';
import { withJobLock } from '../../runtime/scheduled-jobs.js';
import { CHECKPOINT_ACTION, createAuditJobs, RETENTION_ACTION } from './audit-jobs.js';
import { createAuditMetrics, type AuditMetrics } from './audit-metrics.js';
import { createAuditSigningKeys, type AuditSigningKeys } from './audit-signing-keys.js';
import { createTenant, record, testKeys, testRecorder, userContext } from './audit-test-support.js';

const DAY = 86_400_000;
let t: TestDatabase;
let signingKeys: AuditSigningKeys;
const logger = createLogger('silent');

beforeAll(async () => {
  t = await createTestDatabase();
  signingKeys = createAuditSigningKeys({ db: t.db, keys: testKeys(), clock: manualClock(new Date()) });
});
afterAll(() => t?.close());

function setup(now: Date) {
  const clock = manualClock(now);
  const { recorder } = testRecorder(now);
  const registry = new Registry();
  const metrics = createAuditMetrics(registry);
  const jobs = createAuditJobs({
    db: t.db,
    clock,
    logger,
    audit: recorder,
    signingKeys,
    metrics,
    retention: { hotDays: 90, archiveDays: 365 },
  });
  return { clock, jobs, metrics };
}

const count = async (m: AuditMetrics[keyof AuditMetrics]) => (await m.get()).values[0]?.value ?? 0;

async function events(tenantId: string) {
  return withTenant(t.db, tenantId, async (tx) => {
    const { rows } = await sql<{ seq: number; action: string; after: unknown; archived: boolean }>`
      select seq, action, after, false as archived from audit_events where tenant_id = ${tenantId}
      union all
      select seq, action, after, true from audit_events_archive where tenant_id = ${tenantId}
      order by seq`.execute(tx);
    return rows;
  });
}

async function checkpoints(tenantId: string) {
  return withTenant(t.db, tenantId, (tx) =>
    tx.selectFrom('audit_checkpoints').selectAll().where('tenant_id', '=', tenantId).orderBy('seq').execute(),
  );
}

const verify = (tenantId: string) =>
  verifyChain(createAuditReader(t.db), { tenantId, verifySignature: signingKeys.verifySignature });

describe('checkpoint job', () => {
  it('signs a checkpoint of each moved chain, records it as an event, and counts it', async () => {
    const now = new Date();
    const { jobs, metrics } = setup(now);
    const a = await createTenant(t.owner, 'cp-a');
    const b = await createTenant(t.owner, 'cp-b');
    const { recorder } = testRecorder(new Date(now.getTime() - DAY));
    await record(t.db, recorder, userContext(a), [
      { action: 'agents.move', entity: { type: 'agent', id: 'a1' } },
      { action: 'agents.move', entity: { type: 'agent', id: 'a2' } },
    ]);

    const round = await jobs.checkpointRound();
    expect(round.failed).toBe(0);
    expect(round.written).toBe(1); // b has no events yet; the default tenant neither
    expect(await count(metrics.checkpoints)).toBe(1);
    const [cp] = await checkpoints(a);
    expect(cp).toMatchObject({ seq: 2, count: 2 });
    expect(await checkpoints(b)).toEqual([]);

    const log = await events(a);
    expect(log.map((e) => e.action)).toEqual(['agents.move', 'agents.move', CHECKPOINT_ACTION]);
    expect(log[2]!.after).toMatchObject({ seq: 2, headHash: cp!.head_hash, keyId: cp!.key_id });
    expect(await verify(a)).toEqual({ ok: true, count: 3, tenants: 1 });
  });

  it('does not checkpoint a chain whose only new event is its own checkpoint event', async () => {
    const now = new Date();
    const { jobs } = setup(now);
    const tenant = await createTenant(t.owner, 'cp-quiet');
    const { recorder } = testRecorder(now);
    await record(t.db, recorder, userContext(tenant), [
      { action: 'x.create', entity: { type: 'x', id: '1' } },
    ]);

    await jobs.checkpointRound();
    await jobs.checkpointRound();
    await jobs.checkpointRound();
    expect((await checkpoints(tenant)).map((c) => c.seq)).toEqual([1]);
    expect((await events(tenant)).map((e) => e.action)).toEqual(['x.create', CHECKPOINT_ACTION]);

    // Real activity afterwards is checkpointed again, the previous checkpoint event included.
    await record(t.db, recorder, userContext(tenant), [
      { action: 'x.update', entity: { type: 'x', id: '1' } },
    ]);
    await jobs.checkpointRound();
    expect((await checkpoints(tenant)).map((c) => c.seq)).toEqual([1, 3]);
    expect((await verify(tenant)).ok).toBe(true);
  });

  it('a forged checkpoint in the chain is caught by verification with the stored keys', async () => {
    const now = new Date();
    const { jobs } = setup(now);
    const tenant = await createTenant(t.owner, 'cp-forged');
    const { recorder } = testRecorder(now);
    await record(t.db, recorder, userContext(tenant), [
      { action: 'x.create', entity: { type: 'x', id: '1' } },
    ]);
    await jobs.checkpointRound();
    await sql`alter table audit_checkpoints disable trigger user`.execute(t.owner);
    try {
      await sql`update audit_checkpoints set signature = ${Buffer.alloc(64, 1)} where tenant_id = ${tenant}`.execute(
        t.owner,
      );
    } finally {
      await sql`alter table audit_checkpoints enable trigger user`.execute(t.owner);
    }
    expect(await verify(tenant)).toMatchObject({
      ok: false,
      firstBadSeq: 1,
      problem: 'bad_checkpoint_signature',
    });
  });
});

describe('retention job', () => {
  it('archives events past the hot tier and purges those past the archive tier, up to a checkpoint', async () => {
    const now = new Date();
    const { jobs, metrics } = setup(now);
    const tenant = await createTenant(t.owner, 'retention');
    const at = (daysAgo: number) => testRecorder(new Date(now.getTime() - daysAgo * DAY)).recorder;
    const ctx = userContext(tenant);
    await record(t.db, at(500), ctx, [
      { action: 'old.a', entity: { type: 'x', id: '1' } },
      { action: 'old.b', entity: { type: 'x', id: '2' } },
    ]);
    // A checkpoint at seq 2 anchors the chain once seq 1-2 are purged.
    const { jobs: oldJobs } = setup(new Date(now.getTime() - 499 * DAY));
    await oldJobs.checkpointRound(); // seq 3 is its event, timed 499 days ago
    await record(t.db, at(200), ctx, [{ action: 'mid.a', entity: { type: 'x', id: '3' } }]);
    await record(t.db, at(1), ctx, [{ action: 'new.a', entity: { type: 'x', id: '4' } }]);

    const round = await jobs.retentionRound();
    expect(round.failed).toBe(0);
    // seq 1-4 leave the hot tier; seq 1-2 (up to the checkpoint) are purged, seq 3 is kept because
    // no checkpoint after it and before the first kept event exists.
    expect(round).toMatchObject({ archived: 4, purged: 2 });
    expect(await count(metrics.archived)).toBe(4);
    expect(await count(metrics.purged)).toBe(2);

    const log = await events(tenant);
    expect(log.map((e) => [e.seq, e.action, e.archived])).toEqual([
      [3, CHECKPOINT_ACTION, true],
      [4, 'mid.a', true],
      [5, 'new.a', false],
      [6, RETENTION_ACTION, false],
    ]);
    expect(log[3]!.after).toEqual({ archived: 4, purged: 2, hotDays: 90, archiveDays: 365 });
    expect(await verify(tenant)).toEqual({ ok: true, count: 4, tenants: 1 });

    // Nothing more to move: no counts, and no event to grow the chain.
    const again = await jobs.retentionRound();
    expect(again).toMatchObject({ archived: 0, purged: 0, failed: 0 });
    expect(await events(tenant)).toHaveLength(4);
  });

  it('a refused sweep (cut-off in the database future) fails that round, logged, without an event', async () => {
    const future = new Date(Date.now() + 400 * DAY);
    const { jobs } = setup(future);
    const tenant = await createTenant(t.owner, 'retention-future');
    const { recorder } = testRecorder(new Date());
    await record(t.db, recorder, userContext(tenant), [
      { action: 'x.create', entity: { type: 'x', id: '1' } },
    ]);
    const round = await jobs.retentionRound();
    expect(round.failed).toBe(round.tenants);
    expect((await events(tenant)).map((e) => e.action)).toEqual(['x.create']);
  });
});

describe('job lock', () => {
  it('runs a round only where nobody else holds the job lock', async () => {
    let calls = 0;
    const fn = async () => ++calls;
    const inner = await withJobLock(t.db, 'lock-test', async () => {
      // A second replica, meanwhile: refused, its round does not run.
      const other = await withJobLock(t.db, 'lock-test', fn);
      expect(other).toBeUndefined();
      return 'ran';
    });
    expect(inner).toBe('ran');
    expect(calls).toBe(0);
    // Released afterwards.
    expect(await withJobLock(t.db, 'lock-test', fn)).toBe(1);
  });
});
