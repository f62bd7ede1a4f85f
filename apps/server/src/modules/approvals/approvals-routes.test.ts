import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '@ampora/authz';
import { uuidv7Ids, withTenant } from '@ampora/db';
import { auditRows } from '../../../../../test/support/audit-rows.js';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { build, type App } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import type { Principal } from '../../http/principal.js';
import { HttpProblem, problems } from '../../http/problem.js';
import type { AccessControl } from '../../http/route-access.js';
import { createLogger } from '../../observability/logger.js';
import { pkiPublicRoutes } from '../pki/pki-public-routes.js';
import { pkiRoutes } from '../pki/pki-routes.js';
import { actorOf, createTenant, testPki } from '../pki/pki-test-support.js';
import { approvalsRoutes } from './approvals-routes.js';
import type { ApprovalView } from './approvals-service.js';

let t: TestDatabase;
let app: App;
let otherTenant: string;
let fixture: ReturnType<typeof testPki>;

const ADA_USER_ID = uuidv7Ids.uuid();
const ADA_PAT_ID = uuidv7Ids.uuid();

/**
 * Callers by name (`x-as`), as the access layer would resolve them: Ada, Bob and Carl are Admins of
 * the default tenant, Vera a Viewer, Otto an Operator, Olga an Admin of another tenant. `ada-pat`
 * is a PAT that Ada issued (its principal names her `auth_users` row, as a real PAT's does), and
 * `ghost-pat` one whose issuer no longer exists.
 */
function principalFor(as: string): Principal {
  const tenantId = t.defaultTenantId;
  const user = (name: string, role: Principal['role'], tenant = tenantId): Principal => ({
    kind: 'user',
    id: `sub-${name}`,
    name,
    tenantId: tenant,
    role,
    via: 'bearer',
  });
  switch (as) {
    case 'ada':
      return { ...user('ada', 'admin'), userId: ADA_USER_ID };
    case 'bob':
    case 'carl':
      return user(as, 'admin');
    case 'vera':
      return user('vera', 'viewer');
    case 'otto':
      return user('otto', 'operator');
    case 'olga':
      return user('olga', 'admin', otherTenant);
    case 'ada-pat':
      return {
        kind: 'pat',
        id: ADA_PAT_ID,
        name: 'ada-ci',
        tenantId,
        role: 'admin',
        via: 'pat',
        userId: ADA_USER_ID,
      };
    case 'ghost-pat':
      return {
        kind: 'pat',
        id: uuidv7Ids.uuid(),
        name: 'ghost',
        tenantId,
        role: 'admin',
        via: 'pat',
        userId: uuidv7Ids.uuid(),
      };
    default:
      throw problems.unauthorized();
  }
}

const headerAccess: AccessControl = {
  authenticate: async (request) => {
    request.principal = principalFor(String(request.headers['x-as'] ?? ''));
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
  otherTenant = await createTenant(t.owner, 'other');
  await t.owner
    .insertInto('auth_users')
    .values({
      id: ADA_USER_ID,
      tenant_id: t.defaultTenantId,
      sub: 'sub-ada',
      name: 'ada',
      email: null,
      role: 'admin',
      role_source: 'idp',
      created_at: new Date(),
    })
    .execute();
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
        await a.register(pkiPublicRoutes(fixture.pki));
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
  key: { id: string; state: string; certPem: string };
  approval: ApprovalView;
}

async function rotateAs(as: string): Promise<Proposed> {
  const res = await call(as, 'POST', '/api/pki/signing-keys/rotate', {});
  expect(res.statusCode, res.body).toBe(202);
  return res.json();
}

const decideAs = (as: string, id: string, verb: 'approve' | 'reject' | 'cancel', payload?: unknown) =>
  call(as, 'POST', `/api/approvals/${id}/${verb}`, payload);

async function keyState(id: string) {
  return (await fixture.pki.listKeys()).find((k) => k.id === id)?.state;
}

const problemType = (res: { json: () => { type?: string } }) => (res.json().type ?? '').replace(/^.*\//, '');

async function eventsFor(action: string, approvalId: string) {
  return (await auditRows(t.owner, action)).filter((e) => e.entity_id === approvalId);
}

describe('activating a signing key through a second Admin', () => {
  it('request → approval by another Admin → the key is Active, the old one Trusted, both in the bundle', async () => {
    const before = (await fixture.pki.listKeys()).find((k) => k.state === 'active')!;
    const proposed = await rotateAs('ada');
    expect(proposed.key.state).toBe('draft');
    expect(proposed.approval).toMatchObject({
      status: 'pending',
      kind: 'pki.signing-key.activate',
      entity: { type: 'signing-key', id: proposed.key.id },
      requestedBy: { kind: 'user', id: 'sub-ada', name: 'ada' },
      decidedBy: null,
      decidedAt: null,
      reason: null,
    });
    const bundleBefore = (await call('bob', 'GET', '/pki/trust-bundle.pem')).body;
    expect(bundleBefore.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);

    const pending = await call('bob', 'GET', '/api/approvals?status=pending');
    expect(pending.statusCode).toBe(200);
    expect(pending.json().items.map((a: ApprovalView) => a.id)).toContain(proposed.approval.id);
    const one = await call('bob', 'GET', `/api/approvals/${proposed.approval.id}`);
    expect(one.json()).toEqual(proposed.approval);

    const approved = await decideAs('bob', proposed.approval.id, 'approve');
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({
      status: 'approved',
      decidedBy: { kind: 'user', id: 'sub-bob', name: 'bob' },
      reason: null,
    });
    expect(await keyState(proposed.key.id)).toBe('active');
    expect(await keyState(before.id)).toBe('trusted');
    const bundle = (await call('bob', 'GET', '/pki/trust-bundle.pem')).body;
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(bundle).toContain(proposed.key.certPem.trim());
    expect(bundle).toContain(before.certPem!.trim());

    const [created] = await eventsFor('approval.request.create', proposed.approval.id);
    expect(created).toMatchObject({ actor_id: 'sub-ada', outcome: 'success' });
    const [decided] = await eventsFor('approval.request.approve', proposed.approval.id);
    expect(decided).toMatchObject({ actor_id: 'sub-bob', outcome: 'success' });
    const activation = (await auditRows(t.owner, 'pki.signing-key.activate')).find(
      (e) => e.entity_id === proposed.key.id,
    );
    expect(activation?.after).toMatchObject({
      approvalRequestId: proposed.approval.id,
      previousKey: { id: before.id, state: 'trusted' },
    });
  });

  it('refuses the requester, and a PAT the requester issued, with 403 self-approval (audited)', async () => {
    const proposed = await rotateAs('ada');
    for (const as of ['ada', 'ada-pat']) {
      const res = await decideAs(as, proposed.approval.id, 'approve');
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(problemType(res)).toBe('self-approval');
    }
    const selfReject = await decideAs('ada', proposed.approval.id, 'reject', { reason: 'changed my mind' });
    expect(problemType(selfReject)).toBe('self-approval');
    const refused = await eventsFor('approval.request.approve', proposed.approval.id);
    expect(refused.map((e) => [e.actor_kind, e.actor_id, e.outcome, e.after.reason])).toEqual([
      ['user', 'sub-ada', 'denied', 'self-approval'],
      ['pat', ADA_PAT_ID, 'denied', 'self-approval'],
    ]);
    expect(await keyState(proposed.key.id)).toBe('draft');
    expect((await call('bob', 'GET', `/api/approvals/${proposed.approval.id}`)).json().status).toBe(
      'pending',
    );
    expect((await decideAs('bob', proposed.approval.id, 'approve')).statusCode).toBe(200);
  });

  it('counts a request made with a PAT as its issuer’s, so the issuer cannot approve it either', async () => {
    const proposed = await rotateAs('ada-pat');
    expect(proposed.approval.requestedBy).toEqual({ kind: 'pat', id: ADA_PAT_ID, name: 'ada-ci' });
    expect(problemType(await decideAs('ada', proposed.approval.id, 'approve'))).toBe('self-approval');
    // The requester is the person, so Ada herself may cancel what her token asked for.
    expect((await decideAs('ada', proposed.approval.id, 'cancel')).json().status).toBe('cancelled');
  });

  it('refuses a PAT whose issuer cannot be established', async () => {
    const proposed = await rotateAs('ada');
    const res = await decideAs('ghost-pat', proposed.approval.id, 'approve');
    expect(res.statusCode).toBe(403);
    expect(await keyState(proposed.key.id)).toBe('draft');
    await decideAs('ada', proposed.approval.id, 'cancel');
  });

  it('rejection needs a reason, keeps the key a Draft, and cannot be followed by an approval', async () => {
    const proposed = await rotateAs('ada');
    const id = proposed.approval.id;
    expect((await decideAs('bob', id, 'reject', {})).statusCode).toBe(400);
    expect((await decideAs('bob', id, 'reject', { reason: '   ' })).statusCode).toBe(400);
    const rejected = await decideAs('bob', id, 'reject', { reason: 'we agreed on rsa-3072' });
    expect(rejected.statusCode).toBe(200);
    expect(rejected.json()).toMatchObject({
      status: 'rejected',
      reason: 'we agreed on rsa-3072',
      decidedBy: { id: 'sub-bob' },
    });
    expect(await keyState(proposed.key.id)).toBe('draft');
    for (const [as, verb] of [
      ['carl', 'approve'],
      ['carl', 'reject'],
      ['ada', 'cancel'],
    ] as const) {
      const again = await decideAs(as, id, verb, verb === 'reject' ? { reason: 'again' } : undefined);
      expect(again.statusCode).toBe(409);
    }
    expect(await keyState(proposed.key.id)).toBe('draft');
    const [event] = await eventsFor('approval.request.reject', id);
    expect(event).toMatchObject({ actor_id: 'sub-bob', outcome: 'success' });
    expect(event!.after).toMatchObject({ status: 'rejected', reason: 'we agreed on rsa-3072' });
    // The rejected Draft is discarded by retiring it.
    const retired = await call('bob', 'POST', `/api/pki/signing-keys/${proposed.key.id}/retire`);
    expect(retired.statusCode).toBe(200);
    expect(retired.json().state).toBe('retired');
  });

  it('lets only the requester cancel; the key stays a Draft and can be asked for again', async () => {
    const proposed = await rotateAs('ada');
    const id = proposed.approval.id;
    const byBob = await decideAs('bob', id, 'cancel');
    expect(byBob.statusCode).toBe(403);
    expect(problemType(byBob)).toBe('not-requester');
    const cancelled = await decideAs('ada', id, 'cancel');
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', decidedBy: { id: 'sub-ada' } });
    expect((await decideAs('bob', id, 'approve')).statusCode).toBe(409);
    expect(await keyState(proposed.key.id)).toBe('draft');
    expect((await eventsFor('approval.request.cancel', id)).map((e) => [e.actor_id, e.outcome])).toEqual([
      ['sub-bob', 'denied'],
      ['sub-ada', 'success'],
    ]);

    const again = await call('ada', 'POST', `/api/pki/signing-keys/${proposed.key.id}/activate`);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ key: { state: 'draft' }, approval: { status: 'pending' } });
    expect((await call('ada', 'POST', `/api/pki/signing-keys/${proposed.key.id}/activate`)).statusCode).toBe(
      409,
    );
    await decideAs('ada', again.json().approval.id, 'cancel');
  });

  it('answers 409 to the second of two racing decisions', async () => {
    const proposed = await rotateAs('ada');
    const results = await Promise.all([
      decideAs('bob', proposed.approval.id, 'approve'),
      decideAs('carl', proposed.approval.id, 'approve'),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    expect(await eventsFor('approval.request.approve', proposed.approval.id)).toHaveLength(1);
    expect(await keyState(proposed.key.id)).toBe('active');
    expect((await decideAs('bob', proposed.approval.id, 'reject', { reason: 'too late' })).statusCode).toBe(
      409,
    );
  });

  it('answers 404 for another tenant’s request, and keeps it out of that tenant’s list', async () => {
    const proposed = await rotateAs('ada');
    const id = proposed.approval.id;
    expect((await call('olga', 'GET', `/api/approvals/${id}`)).statusCode).toBe(404);
    for (const verb of ['approve', 'reject', 'cancel'] as const) {
      const res = await decideAs('olga', id, verb, verb === 'reject' ? { reason: 'not mine' } : undefined);
      expect(res.statusCode).toBe(404);
    }
    const list = await call('olga', 'GET', '/api/approvals');
    expect(list.json().items).toEqual([]);
    expect(await keyState(proposed.key.id)).toBe('draft');
    expect((await call('bob', 'GET', '/api/approvals/not-a-uuid')).statusCode).toBe(400);
    expect((await call('bob', 'GET', `/api/approvals/${uuidv7Ids.uuid()}`)).statusCode).toBe(404);
    await decideAs('ada', id, 'cancel');
  });

  it('refuses Viewers and Operators everywhere, before looking at the request', async () => {
    const proposed = await rotateAs('ada');
    const id = proposed.approval.id;
    for (const as of ['vera', 'otto']) {
      for (const [method, url, payload] of [
        ['GET', '/api/approvals', undefined],
        ['GET', `/api/approvals/${id}`, undefined],
        ['POST', `/api/approvals/${id}/approve`, undefined],
        ['POST', `/api/approvals/${id}/reject`, { reason: 'no' }],
        ['POST', `/api/approvals/${id}/cancel`, undefined],
        ['POST', '/api/pki/signing-keys/rotate', {}],
        ['POST', `/api/pki/signing-keys/${proposed.key.id}/activate`, undefined],
      ] as const) {
        const res = await call(as, method, url, payload);
        expect(res.statusCode, `${as} ${method} ${url}`).toBe(403);
      }
    }
    expect((await call('bob', 'GET', `/api/approvals/${id}`)).json().status).toBe('pending');
    await decideAs('ada', id, 'cancel');
  });

  it('checks the action of the request kind too (pki:keys:approve), not only the route rule', async () => {
    const proposed = await rotateAs('ada');
    const operator = await actorOf(fixture.approvals, t.defaultTenantId, 'Otto', 'operator');
    const err = await fixture.approvals.approve(operator, proposed.approval.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpProblem);
    expect((err as HttpProblem).status).toBe(403);
    expect(await keyState(proposed.key.id)).toBe('draft');
    await decideAs('ada', proposed.approval.id, 'cancel');
  });

  it('is enforced by the database too: no row can record a self-approval', async () => {
    const proposed = await rotateAs('ada');
    const selfApprove = withTenant(t.db, t.defaultTenantId, (tx) =>
      tx
        .updateTable('approval_requests')
        .set({
          status: 'approved',
          decided_by_identity: 'oidc:sub-ada',
          decided_by_kind: 'pat',
          decided_by_id: ADA_PAT_ID,
          decided_by_name: 'ada-ci',
          decided_at: new Date(),
        })
        .where('id', '=', proposed.approval.id)
        .execute(),
    );
    await expect(selfApprove).rejects.toMatchObject({ code: '23514' });
    expect((await decideAs('ada', proposed.approval.id, 'cancel')).json().status).toBe('cancelled');
  });

  it('describes the routes, their rules and schemas in the OpenAPI document', async () => {
    const res = await call('bob', 'GET', '/api/openapi.json');
    expect(res.statusCode).toBe(200);
    const paths = res.json().paths as Record<string, Record<string, any>>;
    expect(paths['/api/approvals']!.get['x-ampora-access']).toBe('approvals:read');
    expect(paths['/api/approvals/{id}']!.get['x-ampora-access']).toBe('approvals:read');
    expect(paths['/api/approvals/{id}/approve']!.post['x-ampora-access']).toBe('approvals:decide');
    expect(
      paths['/api/approvals/{id}/reject']!.post.requestBody.content['application/json'].schema,
    ).toMatchObject({
      required: ['reason'],
    });
    expect(paths['/api/approvals/{id}/cancel']!.post['x-ampora-access']).toBe('approvals:cancel');
    const rotate = paths['/api/pki/signing-keys/rotate']!.post;
    expect(Object.keys(rotate.responses)).toEqual(['202']);
    expect(rotate.responses['202'].content['application/json'].schema.properties).toHaveProperty('approval');
  });

  it('lists newest first with status filter and cursor pagination', async () => {
    const made = [await rotateAs('ada'), await rotateAs('ada'), await rotateAs('ada')];
    const ids = made.map((p) => p.approval.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        'bob',
        'GET',
        `/api/approvals?status=pending&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.statusCode).toBe(200);
      const body = page.json() as { items: ApprovalView[]; nextCursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(2);
      for (const item of body.items) expect(item.status).toBe('pending');
      seen.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    await decideAs('ada', ids[0]!, 'cancel');
    const cancelled = await call(
      'bob',
      'GET',
      '/api/approvals?status=cancelled&kind=pki.signing-key.activate',
    );
    expect(cancelled.json().items.map((i: ApprovalView) => i.id)).toContain(ids[0]);
    const all = await call('bob', 'GET', '/api/approvals?limit=500');
    const statuses = new Set(all.json().items.map((i: ApprovalView) => i.status));
    expect(statuses).toEqual(new Set(['pending', 'approved', 'rejected', 'cancelled']));
    expect((await call('bob', 'GET', '/api/approvals?cursor=bm90LWEtY3Vyc29y')).statusCode).toBe(400);
    expect((await call('bob', 'GET', '/api/approvals?status=open')).statusCode).toBe(400);
    for (const id of ids.slice(1)) await decideAs('ada', id, 'cancel');
  });
});
