import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, uuidv7Ids, withTenant } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { headerAccess } from '../../../../../test/support/header-access.js';
import { build, type App } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../observability/logger.js';
import { auditRoutes } from './audit-routes.js';
import { createAuditService } from './audit-service.js';
import { createAuditSigningKeys } from './audit-signing-keys.js';
import { createTenant, record, testKeys, testRecorder, userContext } from './audit-test-support.js';

let t: TestDatabase;
let app: App;
let tenant: string;
let otherTenant: string;
const DAY = 86_400_000;
/** Every action the route layer asked the authorizer about. */
const authorized: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  tenant = await createTenant(t.owner, 'routes');
  otherTenant = await createTenant(t.owner, 'routes-other');
  const { recorder } = testRecorder();
  const signingKeys = createAuditSigningKeys({ db: t.db, keys: testKeys(), clock: manualClock(new Date()) });
  app = await build({
    config: loadConfig({}),
    db: t.db,
    logger: createLogger('silent'),
    metrics: new Registry(),
    clock: manualClock(new Date()),
    ids: uuidv7Ids,
    isReady: async () => true,
    modules: [auditRoutes(createAuditService({ db: t.db, audit: recorder, signingKeys }))],
    access: () => {
      const access = headerAccess(() => tenant);
      return {
        ...access,
        authorize: async (request, action) => {
          authorized.push(action);
          await access.authorize(request, action);
        },
      };
    },
  });
  const old = testRecorder(new Date(Date.now() - 200 * DAY)).recorder;
  await record(t.db, old, userContext(tenant), [
    { action: 'pki.certificate.revoke', entity: { type: 'certificate', id: 'c-old' } },
  ]);
  await withTenant(t.db, tenant, async (tx) => {
    const { sweepRetention } = await import('@ampora/audit');
    await sweepRetention(tx, { tenantId: tenant, hotDays: 90, archiveDays: 2555, now: new Date() });
  });
  await record(t.db, recorder, userContext(tenant), [
    { action: 'pki.certificate.revoke', entity: { type: 'certificate', id: 'c-new' } },
  ]);
  await record(t.db, recorder, userContext(otherTenant), [
    { action: 'pki.certificate.revoke', entity: { type: 'certificate', id: 'c-other' } },
  ]);
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await app.inject({ method: 'GET', url, headers });
  return { status: res.statusCode, body: res.json() };
};

describe('GET /api/audit/events', () => {
  it('serves a Viewer the hot tier of its own tenant only', async () => {
    const res = await get('/api/audit/events');
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { entity: { id: string } }) => e.entity.id)).toEqual(['c-new']);
  });

  it('refuses the archive to a Viewer and an Operator, with no trace of a read', async () => {
    authorized.length = 0;
    for (const role of ['viewer', 'operator']) {
      const res = await get('/api/audit/events?includeArchive=true', { 'x-role': role });
      expect(res.status).toBe(403);
      expect(res.body.type).toMatch(/forbidden$/);
    }
    // Refused by the server's one authorizer (which audits refusals), not by a check of its own.
    expect(authorized.filter((a) => a === 'audit:archive:read')).toHaveLength(2);
    const log = await get('/api/audit/events?action=audit.archive.read', { 'x-role': 'admin' });
    expect(log.body.items).toEqual([]);
  });

  it('gives an Admin the archive too, and records that read as an event', async () => {
    const res = await get('/api/audit/events?includeArchive=true&action=pki.*', { 'x-role': 'admin' });
    expect(res.status).toBe(200);
    expect(
      res.body.items.map((e: { entity: { id: string }; archived: boolean }) => [e.entity.id, e.archived]),
    ).toEqual([
      ['c-new', false],
      ['c-old', true],
    ]);
    const log = await get('/api/audit/events?action=audit.archive.read');
    expect(log.body.items).toHaveLength(1);
    expect(log.body.items[0]).toMatchObject({
      actor: { kind: 'user', id: 'sub-caller', name: 'Caller' },
      entity: { type: 'audit_archive', id: null },
      after: { filters: { action: 'pki.*' }, returned: 2 },
    });
  });

  it('answers 400 for bad filters and cursors', async () => {
    expect((await get('/api/audit/events?limit=501')).status).toBe(400);
    expect((await get('/api/audit/events?action=PKI')).status).toBe(400);
    expect((await get('/api/audit/events?from=yesterday')).status).toBe(400);
    expect((await get('/api/audit/events?cursor=bm90LWEtY3Vyc29y')).status).toBe(400);
  });
});

describe('GET /api/audit/verify', () => {
  it('is refused below Admin', async () => {
    expect((await get('/api/audit/verify', { 'x-role': 'operator' })).status).toBe(403);
  });

  it("verifies the caller's tenant chain, archive included", async () => {
    const res = await get('/api/audit/verify', { 'x-role': 'admin' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, tenantId: tenant, count: 3 });
  });
});
