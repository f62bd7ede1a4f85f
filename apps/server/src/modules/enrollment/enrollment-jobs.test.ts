import { randomBytes, randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, uuidv7Ids, withTenant } from '@ampora/db';
import { auditRows } from '../../../../../test/support/audit-rows.js';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { createTenant, testAuditRecorder } from '../../../../../test/support/server-fixtures.js';
import { createLogger } from '../../observability/logger.js';
import { withJobLock } from '../../runtime/scheduled-jobs.js';
import { createEnrollmentJobs, SWEEP_ACTION, SWEEP_JOB, type SweepSettings } from './enrollment-jobs.js';
import { createEnrollmentMetrics } from './enrollment-metrics.js';
import { insertToken, redeemToken } from './enrollment-queries.js';
import { createEnrollmentService } from './enrollment-service.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const logger = createLogger('silent');
let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

function setup(now: Date, sweep: Partial<SweepSettings> = {}) {
  const clock = manualClock(now);
  const audit = testAuditRecorder(clock);
  const registry = new Registry();
  const metrics = createEnrollmentMetrics(registry);
  const jobs = createEnrollmentJobs({
    db: t.db,
    clock,
    logger,
    audit,
    metrics,
    sweep: { expiredTokenGraceDays: 7, redemptionRetentionDays: 30, batchSize: 1000, ...sweep },
  });
  const service = createEnrollmentService({
    db: t.db,
    clock,
    ids: uuidv7Ids,
    audit,
    defaultTokenTtlSeconds: 86_400,
  });
  const swept = async (kind: string) =>
    (await metrics.swept.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
  return { clock, jobs, service, swept };
}

/** A token of the tenant that expires at `expiresAt` (created a day before it, or earlier). */
async function token(tenantId: string, expiresAt: Date, createdAt = new Date(expiresAt.getTime() - DAY)) {
  const tokenHash = randomBytes(32).toString('hex');
  const id = randomUUID();
  await withTenant(t.db, tenantId, (tx) =>
    insertToken(tx, {
      tenant_id: tenantId,
      id,
      token_hash: tokenHash,
      label: 'sweep',
      initial_group: null,
      pool_id: null,
      created_by: 'test',
      created_at: createdAt,
      expires_at: expiresAt,
    }),
  );
  return tokenHash;
}

/** A token redeemed at `redeemedAt`: what is left of it is its redemption record. */
async function redeemed(tenantId: string, redeemedAt: Date) {
  const tokenHash = await token(
    tenantId,
    new Date(redeemedAt.getTime() + HOUR),
    new Date(redeemedAt.getTime() - HOUR),
  );
  const taken = await withTenant(t.db, tenantId, (tx) =>
    redeemToken(tx, { tenantId, tokenHash, agentId: randomUUID(), now: redeemedAt }),
  );
  expect(taken).toBeDefined();
  return tokenHash;
}

async function liveHashes(tenantId: string) {
  const rows = await t.owner
    .selectFrom('enrollment_tokens')
    .select('token_hash')
    .where('tenant_id', '=', tenantId)
    .execute();
  return rows.map((r) => r.token_hash).sort();
}

async function redemptionHashes(tenantId: string) {
  const rows = await t.owner
    .selectFrom('enrollment_redemptions')
    .select('token_hash')
    .where('tenant_id', '=', tenantId)
    .execute();
  return rows.map((r) => r.token_hash).sort();
}

/** The sweep's events, narrowed to the fields the sweep decides. */
async function sweepEvents(tenantId: string) {
  const rows = await auditRows(t.owner, SWEEP_ACTION, { tenantId });
  return rows.map(({ actor_kind, actor_id, entity_type, entity_id, outcome, after }) => ({
    actor_kind,
    actor_id,
    entity_type,
    entity_id,
    outcome,
    after,
  }));
}

describe('enrollment sweep', () => {
  it('deletes tokens expired beyond the grace period and old redemption records, keeping the rest', async () => {
    const now = new Date();
    const { jobs, service, swept } = setup(now);
    const tenant = await createTenant(t.owner, 'sweep-main');
    const stale = await token(tenant, new Date(now.getTime() - 8 * DAY));
    const staleToo = await token(tenant, new Date(now.getTime() - 30 * DAY));
    const recentlyExpired = await token(tenant, new Date(now.getTime() - 6 * DAY));
    const live = await token(tenant, new Date(now.getTime() + HOUR));
    const oldRecord = await redeemed(tenant, new Date(now.getTime() - 31 * DAY));
    const recentRecord = await redeemed(tenant, new Date(now.getTime() - 29 * DAY));

    const round = await jobs.sweepRound();
    expect(round.failed).toBe(0);
    expect(await liveHashes(tenant)).toEqual([recentlyExpired, live].sort());
    expect(await redemptionHashes(tenant)).toEqual([recentRecord]);
    expect(await swept('expired_token')).toBe(2);
    expect(await swept('redemption')).toBe(1);

    // What is kept still gets its precise answer; what is gone is simply unknown.
    expect(await service.lookupToken(recentlyExpired)).toMatchObject({ tenantId: tenant, state: 'live' });
    const outcome = (hash: string) =>
      withTenant(t.db, tenant, (tx) => service.redeem(tx, tenant, hash, randomUUID()));
    expect(await outcome(recentlyExpired)).toEqual({ ok: false, reason: 'token_expired' });
    expect(await service.lookupToken(recentRecord)).toMatchObject({ tenantId: tenant, state: 'redeemed' });
    expect(await outcome(recentRecord)).toEqual({ ok: false, reason: 'token_already_used' });
    expect(await service.lookupToken(stale)).toBeUndefined();
    expect(await service.lookupToken(staleToo)).toBeUndefined();
    expect(await service.lookupToken(oldRecord)).toBeUndefined();

    const events = await sweepEvents(tenant);
    expect(events).toEqual([
      {
        actor_kind: 'system',
        actor_id: SWEEP_JOB,
        entity_type: 'enrollment_records',
        entity_id: null,
        outcome: 'success',
        after: { expiredTokens: 2, redemptions: 1, expiredTokenGraceDays: 7, redemptionRetentionDays: 30 },
      },
    ]);
    const text = JSON.stringify(events);
    for (const hash of [stale, staleToo, oldRecord]) expect(text).not.toContain(hash);
  });

  it('a sweep that deletes nothing writes no event', async () => {
    const now = new Date();
    const { jobs } = setup(now);
    const tenant = await createTenant(t.owner, 'sweep-quiet');
    const live = await token(tenant, new Date(now.getTime() + HOUR));
    const recent = await token(tenant, new Date(now.getTime() - DAY));
    const record = await redeemed(tenant, new Date(now.getTime() - DAY));

    expect((await jobs.sweepRound()).failed).toBe(0);
    expect(await liveHashes(tenant)).toEqual([live, recent].sort());
    expect(await redemptionHashes(tenant)).toEqual([record]);
    expect(await sweepEvents(tenant)).toEqual([]);

    // A busy tenant's sweep leaves an event; running again with nothing left adds none.
    await token(tenant, new Date(now.getTime() - 10 * DAY));
    await jobs.sweepRound();
    expect(await sweepEvents(tenant)).toHaveLength(1);
    await jobs.sweepRound();
    expect(await sweepEvents(tenant)).toHaveLength(1);
  });

  it('sweeps every tenant in its own right, with no effect across tenants', async () => {
    const now = new Date();
    const { jobs } = setup(now);
    const a = await createTenant(t.owner, 'sweep-a');
    const b = await createTenant(t.owner, 'sweep-b');
    await token(a, new Date(now.getTime() - 9 * DAY));
    const aLive = await token(a, new Date(now.getTime() + HOUR));
    const aRecord = await redeemed(a, new Date(now.getTime() - 2 * DAY));
    await token(b, new Date(now.getTime() - 9 * DAY));
    await token(b, new Date(now.getTime() - 12 * DAY));
    await redeemed(b, new Date(now.getTime() - 45 * DAY));
    const bRecent = await token(b, new Date(now.getTime() - 2 * DAY));

    const round = await jobs.sweepRound();
    expect(round.failed).toBe(0);
    expect(round.tenants).toBeGreaterThanOrEqual(2);
    expect(await liveHashes(a)).toEqual([aLive]);
    expect(await redemptionHashes(a)).toEqual([aRecord]);
    expect(await liveHashes(b)).toEqual([bRecent]);
    expect(await redemptionHashes(b)).toEqual([]);
    // Each tenant's event counts its own rows only.
    expect((await sweepEvents(a)).map((e) => e.after)).toEqual([
      expect.objectContaining({ expiredTokens: 1, redemptions: 0 }),
    ]);
    expect((await sweepEvents(b)).map((e) => e.after)).toEqual([
      expect.objectContaining({ expiredTokens: 2, redemptions: 1 }),
    ]);
  });

  it('deletes at most one batch of each kind per tenant and round; the rest goes in later rounds', async () => {
    const now = new Date();
    const { jobs } = setup(now, { batchSize: 2 });
    const tenant = await createTenant(t.owner, 'sweep-batch');
    const ages = [20, 19, 18, 17, 16];
    for (const days of ages) await token(tenant, new Date(now.getTime() - days * DAY));
    for (const days of [40, 39, 38]) await redeemed(tenant, new Date(now.getTime() - days * DAY));
    const live = await token(tenant, new Date(now.getTime() + HOUR));

    const first = await jobs.sweepRound();
    expect(first.backlogged).toBeGreaterThanOrEqual(1);
    expect(await liveHashes(tenant)).toHaveLength(4); // 3 expired + the live one
    expect(await redemptionHashes(tenant)).toHaveLength(1);
    await jobs.sweepRound();
    expect(await liveHashes(tenant)).toHaveLength(2);
    expect(await redemptionHashes(tenant)).toHaveLength(0);
    await jobs.sweepRound();
    expect(await liveHashes(tenant)).toEqual([live]);

    expect((await sweepEvents(tenant)).map((e) => e.after)).toEqual([
      expect.objectContaining({ expiredTokens: 2, redemptions: 2 }),
      expect.objectContaining({ expiredTokens: 2, redemptions: 1 }),
      expect.objectContaining({ expiredTokens: 1, redemptions: 0 }),
    ]);
  });

  it('the grace period and the retention window follow the settings and the injected clock', async () => {
    const now = new Date();
    const tenant = await createTenant(t.owner, 'sweep-clock');
    const expired = await token(tenant, new Date(now.getTime() - HOUR));
    const record = await redeemed(tenant, new Date(now.getTime() - HOUR));
    const { clock, jobs } = setup(now, { expiredTokenGraceDays: 1, redemptionRetentionDays: 2 });

    await jobs.sweepRound();
    expect(await liveHashes(tenant)).toEqual([expired]);
    clock.advance(DAY); // the token has now been expired for a day and an hour
    await jobs.sweepRound();
    expect(await liveHashes(tenant)).toEqual([]);
    expect(await redemptionHashes(tenant)).toEqual([record]);
    clock.advance(DAY);
    await jobs.sweepRound();
    expect(await redemptionHashes(tenant)).toEqual([]);
  });

  it('does not run while another replica holds the sweep lock', async () => {
    const now = new Date();
    const { jobs } = setup(now);
    const tenant = await createTenant(t.owner, 'sweep-locked');
    await token(tenant, new Date(now.getTime() - 10 * DAY));
    const skipped = await withJobLock(t.db, SWEEP_JOB, () => withJobLock(t.db, SWEEP_JOB, jobs.sweepRound));
    expect(skipped).toBeUndefined();
    expect(await liveHashes(tenant)).toHaveLength(1);
    expect(await withJobLock(t.db, SWEEP_JOB, jobs.sweepRound)).toMatchObject({ failed: 0 });
    expect(await liveHashes(tenant)).toHaveLength(0);
  });
});
