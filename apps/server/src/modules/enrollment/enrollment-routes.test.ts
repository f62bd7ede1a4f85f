import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, uuidv7Ids } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { headerAccess } from '../../../../../test/support/header-access.js';
import { auditRows as auditRowsOf } from '../../../../../test/support/audit-rows.js';
import { eventually } from '../../../../../test/support/eventually.js';
import { createTenant, testAuditRecorder } from '../../../../../test/support/server-fixtures.js';
import { build, type App } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../observability/logger.js';
import { enrollmentRoutes, POOL_SECRET_HEADER } from './enrollment-routes.js';
import { createEnrollmentService } from './enrollment-service.js';
import { createTokenPoolsService } from './token-pools-service.js';

let t: TestDatabase;
let app: App;
let tenant: string;
let otherTenant: string;
const clock = manualClock(new Date());
const audit = testAuditRecorder(clock);

beforeAll(async () => {
  t = await createTestDatabase();
  tenant = await createTenant(t.owner, 'pools');
  otherTenant = await createTenant(t.owner, 'pools-other');
  const logger = createLogger('silent');
  const shared = { db: t.db, clock, ids: uuidv7Ids, audit, defaultTokenTtlSeconds: 86_400 };
  const tokens = createEnrollmentService(shared);
  const pools = createTokenPoolsService({ ...shared, logger, poolTokensPerMinute: 600 });
  app = await build({
    config: loadConfig({}),
    db: t.db,
    logger,
    metrics: new Registry(),
    clock,
    ids: uuidv7Ids,
    isReady: async () => true,
    modules: [enrollmentRoutes({ tokens, pools })],
    access: () => headerAccess(() => tenant),
  });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

const operator = { 'x-role': 'operator' };

async function createPool(headers: Record<string, string> = operator) {
  const res = await post('/api/enrollment/pools', { name: `pool-${uuidv7Ids.uuid()}` }, headers);
  expect(res.status).toBe(201);
  return res.body as { id: string; name: string; adminSecret: string };
}

const rotate = (id: string, body: unknown = {}, headers: Record<string, string> = operator) =>
  post(`/api/enrollment/pools/${id}/rotate-secret`, body, headers);

const mint = (id: string, secret: string) =>
  post(`/api/enrollment/pools/${id}/tokens`, {}, { [POOL_SECRET_HEADER]: secret });

const auditRows = (tenantId: string, action: string, entityId: string) =>
  auditRowsOf(t.owner, action, { tenantId, entityId });

describe('POST /api/enrollment/pools/:id/rotate-secret', () => {
  it('returns a new secret once; the old one is refused at once, precisely and audited; the new one mints', async () => {
    const pool = await createPool();
    expect((await mint(pool.id, pool.adminSecret)).status).toBe(201);

    const res = await rotate(pool.id);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({
      id: pool.id,
      name: pool.name,
      secretRotatedAt: clock.now().toISOString(),
      previousSecretValidUntil: null,
    });
    const secret = res.body.adminSecret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(secret).not.toBe(pool.adminSecret);

    const old = await mint(pool.id, pool.adminSecret);
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({
      type: 'https://ampora.dev/problems/unauthorized',
      detail: "the pool's admin secret was rotated; use the new one",
    });
    const refusal = await eventually(async () => {
      const rows = await auditRows(tenant, 'enrollment.pool.secret.refused', pool.id);
      return rows.length ? rows : undefined;
    });
    expect(refusal).toEqual([
      expect.objectContaining({
        actor_kind: 'system',
        actor_id: `pool:${pool.id}`,
        outcome: 'denied',
        after: { reason: 'secret_rotated' },
      }),
    ]);

    const minted = await mint(pool.id, secret);
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ poolId: pool.id });

    const listed = await app.inject({ method: 'GET', url: '/api/enrollment/pools' });
    const row = listed.json().items.find((p: { id: string }) => p.id === pool.id);
    expect(row).toMatchObject({ secretRotatedAt: clock.now().toISOString() });
    expect(listed.body).not.toContain(secret);
  });

  it('records the rotation with only an HMAC of the new secret', async () => {
    const pool = await createPool();
    const res = await rotate(pool.id);
    const [event] = await auditRows(tenant, 'enrollment.pool.secret.rotate', pool.id);
    expect(event).toMatchObject({
      actor_kind: 'user',
      actor_id: 'sub-caller',
      outcome: 'success',
      after: { id: pool.id, graceSeconds: 0, previousSecretValidUntil: null },
    });
    const text = JSON.stringify(event);
    expect(text).not.toContain(res.body.adminSecret);
    expect(text).not.toContain(pool.adminSecret);
    expect((event!.after as { adminSecret: string }).adminSecret).toBe(
      `hmac:${audit.hmac(res.body.adminSecret)}`,
    );
  });

  it('a wrong secret is refused as before, audited, and indistinguishable from an unknown pool', async () => {
    const pool = await createPool();
    await rotate(pool.id);
    const wrong = await mint(pool.id, 'not-the-secret');
    const unknown = await mint(uuidv7Ids.uuid(), 'not-the-secret');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const shape = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
    expect(shape(wrong.body)).toEqual(shape(unknown.body));
    expect(wrong.body.detail).toBe('the pool id or its admin secret is wrong');
    const refusal = await eventually(async () => {
      const rows = await auditRows(tenant, 'enrollment.pool.secret.refused', pool.id);
      return rows.length ? rows : undefined;
    });
    expect(refusal.map((r) => r.after)).toEqual([{ reason: 'wrong_secret' }]);
  });

  it('with graceSeconds the old secret keeps minting until the overlap ends, not a moment longer', async () => {
    const pool = await createPool();
    const res = await rotate(pool.id, { graceSeconds: 60 });
    expect(res.status).toBe(200);
    const until = new Date(clock.now().getTime() + 60_000);
    expect(res.body.previousSecretValidUntil).toBe(until.toISOString());
    const secret = res.body.adminSecret as string;
    clock.advance(59_999);
    expect((await mint(pool.id, pool.adminSecret)).status).toBe(201);
    expect((await mint(pool.id, secret)).status).toBe(201);
    clock.advance(1);
    const late = await mint(pool.id, pool.adminSecret);
    expect(late.status).toBe(401);
    expect(late.body.detail).toBe("the pool's admin secret was rotated; use the new one");
    expect((await mint(pool.id, secret)).status).toBe(201);
  });

  it('a second rotation ends the overlap of the first: only the secret it replaces may linger', async () => {
    const pool = await createPool();
    const first = await rotate(pool.id, { graceSeconds: 3600 });
    const second = await rotate(pool.id, { graceSeconds: 3600 });
    expect((await mint(pool.id, pool.adminSecret)).status).toBe(401);
    expect((await mint(pool.id, first.body.adminSecret)).status).toBe(201);
    expect((await mint(pool.id, second.body.adminSecret)).status).toBe(201);
  });

  it('is refused to a Viewer, and leaves the secret as it was', async () => {
    const pool = await createPool();
    const res = await rotate(pool.id, {}, { 'x-role': 'viewer' });
    expect(res.status).toBe(403);
    expect(res.body.type).toMatch(/forbidden$/);
    expect((await mint(pool.id, pool.adminSecret)).status).toBe(201);
    expect(await auditRows(tenant, 'enrollment.pool.secret.rotate', pool.id)).toEqual([]);
  });

  it("answers 404 for an unknown id and for another tenant's pool, which keeps its secret", async () => {
    expect((await rotate(uuidv7Ids.uuid())).status).toBe(404);
    const theirs = await createPool({ ...operator, 'x-tenant': otherTenant });
    const res = await rotate(theirs.id);
    expect(res.status).toBe(404);
    expect(res.body.type).toMatch(/not-found$/);
    expect((await mint(theirs.id, theirs.adminSecret)).status).toBe(201);
    expect(await auditRows(otherTenant, 'enrollment.pool.secret.rotate', theirs.id)).toEqual([]);
  });

  it('refuses a grace beyond an hour, or below zero', async () => {
    const pool = await createPool();
    expect((await rotate(pool.id, { graceSeconds: 3601 })).status).toBe(400);
    expect((await rotate(pool.id, { graceSeconds: -1 })).status).toBe(400);
    expect((await mint(pool.id, pool.adminSecret)).status).toBe(201);
  });
});
