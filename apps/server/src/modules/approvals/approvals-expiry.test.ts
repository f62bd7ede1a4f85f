import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '@ampora/authz';
import { uuidv7Ids } from '@ampora/db';
import { auditRows } from '../../../../../test/support/audit-rows.js';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { build, type App } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import type { Principal } from '../../http/principal.js';
import { problems } from '../../http/problem.js';
import type { AccessControl } from '../../http/route-access.js';
import { createLogger } from '../../observability/logger.js';
import { pkiRoutes } from '../pki/pki-routes.js';
import { actorOf, testPki } from '../pki/pki-test-support.js';
import { approvalsRoutes } from './approvals-routes.js';
import type { ApprovalView } from './approvals-service.js';

const HOUR = 3_600_000;
const TTL = 72 * HOUR;

let t: TestDatabase;
let app: App;
let fixture: ReturnType<typeof testPki>;

/** Ada, Bob and Carl: Admins of the default tenant, named by the `x-as` header. */
const headerAccess: AccessControl = {
  authenticate: async (request) => {
    const name = String(request.headers['x-as'] ?? '');
    if (!['ada', 'bob', 'carl'].includes(name)) throw problems.unauthorized();
    const principal: Principal = {
      kind: 'user',
      id: `sub-${name}`,
      name,
      tenantId: t.defaultTenantId,
      role: 'admin',
      via: 'bearer',
    };
    request.principal = principal;
  },
  authorize: async (request, action) => {
    const decision = decide(request.principal!, action, {
      request: { method: request.method, path: request.url },
      installationTenantId: t.defaultTenantId,
    });
    if (!decision.allowed) throw problems.forbidden();
  },
};

beforeAll(async () => {
  t = await createTestDatabase();
  fixture = testPki({ db: t.db });
  await fixture.pki.ready();
  app = await build({
    config: loadConfig({}),
    db: t.db,
    logger: createLogger('silent'),
    metrics: new Registry(),
    clock: fixture.clock,
    ids: uuidv7Ids,
    isReady: async () => true,
    modules: [
      async (a) => {
        await a.register(pkiRoutes(fixture.pki, fixture.approvals));
        await a.register(approvalsRoutes(fixture.approvals));
      },
    ],
    access: () => headerAccess,
  });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

function call(as: string, method: 'GET' | 'POST', url: string, payload?: unknown) {
  return app.inject({
    method,
    url,
    headers: { 'x-as': as, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
}

interface Proposed {
  key: { id: string; state: string };
  approval: ApprovalView;
}

async function rotateAs(as: string): Promise<Proposed> {
  const res = await call(as, 'POST', '/api/pki/signing-keys/rotate', {});
  expect(res.statusCode, res.body).toBe(202);
  return res.json();
}

const decideAs = (as: string, id: string, verb: 'approve' | 'reject' | 'cancel') =>
  call(as, 'POST', `/api/approvals/${id}/${verb}`, verb === 'reject' ? { reason: 'not now' } : undefined);

const problemType = (res: { json: () => { type?: string } }) => (res.json().type ?? '').replace(/^.*\//, '');

async function keyState(id: string) {
  return (await fixture.pki.listKeys()).find((k) => k.id === id)?.state;
}

async function statusOf(id: string) {
  const res = await call('bob', 'GET', `/api/approvals/${id}`);
  expect(res.statusCode).toBe(200);
  return (res.json() as ApprovalView).status;
}

/** The status as stored, read past row-level security. */
async function storedStatus(id: string) {
  const { rows } = await sql<{ status: string }>`
    select status from approval_requests where id = ${id}`.execute(t.owner);
  return rows[0]?.status;
}

async function listIds(query: string) {
  const res = await call('bob', 'GET', `/api/approvals?limit=500&${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().items as ApprovalView[]).map((i) => [i.id, i.status] as const);
}

const eventsFor = async (action: string, id: string) =>
  (await auditRows(t.owner, action)).filter((e) => e.entity_id === id);

describe('approval requests expire', () => {
  it('a request expires requestTtlHours after it was made, and is shown so without any job running', async () => {
    const proposed = await rotateAs('ada');
    const { requestedAt, expiresAt } = proposed.approval;
    expect(new Date(expiresAt).getTime() - new Date(requestedAt).getTime()).toBe(TTL);
    const [created] = await eventsFor('approval.request.create', proposed.approval.id);
    expect(created!.after).toMatchObject({ expiresAt });

    fixture.clock.advance(TTL);
    expect(await statusOf(proposed.approval.id)).toBe('expired');
    // Nothing was written: the status comes from expires_at and the clock.
    expect(await storedStatus(proposed.approval.id)).toBe('pending');
    expect(await keyState(proposed.key.id)).toBe('draft');
  });

  it('refuses approving, rejecting and cancelling an expired request with 409 approval-expired, audited', async () => {
    const proposed = await rotateAs('ada');
    const id = proposed.approval.id;
    fixture.clock.advance(TTL + 1);

    for (const [as, verb] of [
      ['bob', 'approve'],
      ['bob', 'reject'],
      ['ada', 'cancel'],
    ] as const) {
      const res = await decideAs(as, id, verb);
      expect(res.statusCode, `${verb}: ${res.body}`).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(problemType(res)).toBe('approval-expired');
      const events = await eventsFor(`approval.request.${verb}`, id);
      expect(events.map((e) => [e.actor_id, e.outcome, e.after.reason, e.after.expiresAt])).toEqual([
        [`sub-${as}`, 'denied', 'expired', proposed.approval.expiresAt],
      ]);
    }
    // The requester's own approval is refused for the expiry, not checked for four eyes first.
    expect(problemType(await decideAs('ada', id, 'approve'))).toBe('approval-expired');

    expect(await keyState(proposed.key.id)).toBe('draft');
    expect(await statusOf(id)).toBe('expired');
    expect(await storedStatus(id)).toBe('pending');
  });

  it('still takes a decision one millisecond before the expiry, and none at it', async () => {
    const early = await rotateAs('ada');
    fixture.clock.advance(TTL - 1);
    expect(await statusOf(early.approval.id)).toBe('pending');
    const approved = await decideAs('bob', early.approval.id, 'approve');
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'approved', expiresAt: early.approval.expiresAt });
    expect(await keyState(early.key.id)).toBe('active');

    const onTime = await rotateAs('ada');
    fixture.clock.advance(TTL - 1);
    const cancelled = await decideAs('ada', onTime.approval.id, 'cancel');
    expect(cancelled.json()).toMatchObject({ status: 'cancelled' });

    const late = await rotateAs('ada');
    fixture.clock.advance(TTL);
    expect(problemType(await decideAs('bob', late.approval.id, 'approve'))).toBe('approval-expired');
    expect(await keyState(late.key.id)).toBe('draft');
  });

  it('lists expired requests under status=expired and never under status=pending', async () => {
    const older = await rotateAs('ada');
    fixture.clock.advance(TTL / 2);
    const newer = await rotateAs('ada');
    fixture.clock.advance(TTL / 2);
    // `older` reached its expiry just now; `newer` has half its lifetime left.

    const pending = await listIds('status=pending');
    expect(pending).toContainEqual([newer.approval.id, 'pending']);
    expect(pending.map(([id]) => id)).not.toContain(older.approval.id);
    expect(pending.every(([, status]) => status === 'pending')).toBe(true);

    const expired = await listIds('status=expired&kind=pki.signing-key.activate');
    expect(expired).toContainEqual([older.approval.id, 'expired']);
    expect(expired.map(([id]) => id)).not.toContain(newer.approval.id);
    expect(expired.every(([, status]) => status === 'expired')).toBe(true);

    const all = await listIds('');
    expect(all).toContainEqual([older.approval.id, 'expired']);
    expect(all).toContainEqual([newer.approval.id, 'pending']);

    // A cursor walk over expired requests sees each once, newest first.
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        'bob',
        'GET',
        `/api/approvals?status=expired&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      const body = page.json() as { items: ApprovalView[]; nextCursor: string | null };
      walked.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(walked).toEqual(expired.map(([id]) => id));

    await decideAs('ada', newer.approval.id, 'cancel');
  });

  it('lets the owner ask again after the expiry; a second Admin approves the new request', async () => {
    const proposed = await rotateAs('ada');
    const keyId = proposed.key.id;
    const activate = () => call('ada', 'POST', `/api/pki/signing-keys/${keyId}/activate`);

    fixture.clock.advance(TTL - 1);
    expect((await activate()).statusCode).toBe(409);
    fixture.clock.advance(1);

    const again = await activate();
    expect(again.statusCode, again.body).toBe(202);
    const renewed = again.json() as Proposed;
    expect(renewed.key).toMatchObject({ id: keyId, state: 'draft' });
    expect(renewed.approval).toMatchObject({ status: 'pending', entity: { id: keyId } });
    expect(renewed.approval.id).not.toBe(proposed.approval.id);

    // The lapsed request is now stored as expired, in the same transaction, and audited.
    expect(await storedStatus(proposed.approval.id)).toBe('expired');
    expect(await statusOf(proposed.approval.id)).toBe('expired');
    const [expiry] = await eventsFor('approval.request.expire', proposed.approval.id);
    expect(expiry).toMatchObject({ actor_id: 'sub-ada', outcome: 'success' });
    expect(expiry!.after).toMatchObject({ status: 'expired', entity: { type: 'signing-key', id: keyId } });
    expect(await listIds('status=expired')).toContainEqual([proposed.approval.id, 'expired']);
    expect((await listIds('status=pending')).map(([id]) => id)).toEqual([renewed.approval.id]);

    // A stored expiry is refused like a computed one.
    expect(problemType(await decideAs('bob', proposed.approval.id, 'approve'))).toBe('approval-expired');
    expect((await activate()).statusCode).toBe(409);

    const approved = await decideAs('bob', renewed.approval.id, 'approve');
    expect(approved.statusCode, approved.body).toBe(200);
    expect(await keyState(keyId)).toBe('active');
  });

  it('lets a Draft whose request expired be discarded', async () => {
    const proposed = await rotateAs('ada');
    const retire = () => call('bob', 'POST', `/api/pki/signing-keys/${proposed.key.id}/retire`);
    expect((await retire()).statusCode).toBe(409);
    fixture.clock.advance(TTL);
    const retired = await retire();
    expect(retired.statusCode, retired.body).toBe(200);
    expect(retired.json().state).toBe('retired');
  });

  it('refuses to store an expired request with a decider, or a lifetime that ends before it starts', async () => {
    const proposed = await rotateAs('ada');
    const id = proposed.approval.id;
    const decided = sql`update approval_requests set status = 'expired', decided_at = now(),
      decided_by_identity = 'oidc:sub-bob' where id = ${id}`.execute(t.owner);
    await expect(decided).rejects.toMatchObject({ code: '23514' });
    const backwards = sql`update approval_requests set expires_at = requested_at where id = ${id}`.execute(
      t.owner,
    );
    await expect(backwards).rejects.toMatchObject({ code: '23514' });
    await decideAs('ada', id, 'cancel');
  });

  it('describes expiresAt and the expired status in the OpenAPI document', async () => {
    const doc = (await call('bob', 'GET', '/api/openapi.json')).json();
    const one = doc.paths['/api/approvals/{id}'].get.responses['200'].content['application/json'].schema;
    const schema = one.$ref ? doc.components.schemas[one.$ref.replace(/^.*\//, '')] : one;
    expect(schema.required).toContain('expiresAt');
    expect(schema.properties.expiresAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(JSON.stringify(schema.properties.status)).toContain('expired');
    const approve = doc.paths['/api/approvals/{id}/approve'].post;
    expect(approve.description).toContain('approval-expired');
  });
});

describe('the request lifetime setting', () => {
  it('is approvals.requestTtlHours: 72 by default, 1 to 720', () => {
    expect(loadConfig({}).approvals.requestTtlHours).toBe(72);
    expect(loadConfig({ AMPORA_APPROVALS_REQUEST_TTL_HOURS: '720' }).approvals.requestTtlHours).toBe(720);
    for (const bad of ['0', '721', '1.5']) {
      expect(() => loadConfig({ AMPORA_APPROVALS_REQUEST_TTL_HOURS: bad })).toThrow(
        /AMPORA_APPROVALS_REQUEST_TTL_HOURS/,
      );
    }
  });

  it('sets the expiry of new requests', async () => {
    const short = testPki({
      db: t.db,
      clock: fixture.clock,
      keys: fixture.keys,
      env: { AMPORA_APPROVALS_REQUEST_TTL_HOURS: '1' },
    });
    const ada = await actorOf(short.approvals, t.defaultTenantId, 'Ada');
    const proposed = await short.pki.rotate(ada);
    const { requestedAt, expiresAt } = proposed.approval;
    expect(new Date(expiresAt).getTime() - new Date(requestedAt).getTime()).toBe(HOUR);
    fixture.clock.advance(HOUR);
    const bob = await actorOf(short.approvals, t.defaultTenantId, 'Bob');
    await expect(short.approvals.approve(bob, proposed.approval.id)).rejects.toMatchObject({
      status: 409,
      type: 'approval-expired',
    });
  });
});
